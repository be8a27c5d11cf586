using NUnit.Framework;
using System.Security.Cryptography;
using MailServer.Storage.Crypto;

namespace MailServer.Tests.Storage;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}

[TestFixture]
public sealed class CryptoTests
{
    [Test]
    public void A_cached_mailbox_key_expires_after_its_time_to_live_and_is_zeroed()
    {
        var clock = new ManualClock();
        using var cache = new MailboxKeyCache(TimeSpan.FromSeconds(60), clock);
        var unwraps = 0;
        byte[]? cached = null;
        byte[] Unwrap() { unwraps++; return cached = Aead.NewKey(); }

        var first = cache.Get("m1", Unwrap);
        clock.Advance(TimeSpan.FromSeconds(59));
        var second = cache.Get("m1", Unwrap);
        Assert.That((unwraps, second), Is.EqualTo((1, first)));

        var original = cached!;
        clock.Advance(TimeSpan.FromSeconds(2));
        cache.Sweep();
        Assert.That(cache.Contains("m1"), Is.False);
        Assert.That(original, Is.All.EqualTo(0), "zeroed on eviction");

        cache.Get("m1", Unwrap);
        Assert.That(unwraps, Is.EqualTo(2), "unwrapped again after expiry");
    }

    [Test]
    public void The_key_cache_refuses_a_time_to_live_it_cannot_honour() =>
        Assert.That(() => new MailboxKeyCache(TimeSpan.Zero), Throws.InstanceOf<ArgumentOutOfRangeException>());

    [Test]
    public void A_missing_master_key_file_is_created_owner_only_and_read_back_unchanged()
    {
        var directory = StoreHarness.NewTempDirectory();
        try
        {
            var path = Path.Combine(directory, "keys", "org.key");
            var created = MasterKeyFile.Load(path, createIfMissing: true);
            var loaded = MasterKeyFile.Load(path, createIfMissing: true);

            Assert.That(created, Has.Length.EqualTo(32));
            Assert.That(loaded, Is.EqualTo(created));
            if (!OperatingSystem.IsWindows())
                Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(() => MasterKeyFile.Load(Path.Combine(directory, "absent.key"), createIfMissing: false), Throws.InstanceOf<FileNotFoundException>());
            File.WriteAllBytes(path, new byte[31]);
            Assert.That(() => MasterKeyFile.Load(path, createIfMissing: true), Throws.InstanceOf<InvalidDataException>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void The_file_key_provider_refuses_an_unconfigured_organization()
    {
        var provider = new FileMasterKeyProvider(new Dictionary<string, string>());
        Assert.That(() => provider.GetMasterKey("nobody"), Throws.InstanceOf<KeyNotFoundException>());
    }

    [Test]
    public void A_sealed_box_opens_only_with_its_key_and_associated_data()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var box = Aead.Seal(key, "hello"u8, "ctx"u8);

        Assert.That(Aead.Open(key, box, "ctx"u8), Is.EqualTo("hello"u8.ToArray()));
        Assert.That(() => Aead.Open(key, box, "other"u8), Throws.InstanceOf<CryptographicException>());
        Assert.That(() => Aead.Open(RandomNumberGenerator.GetBytes(32), box, "ctx"u8), Throws.InstanceOf<CryptographicException>());
        Assert.That(Aead.Seal(key, "hello"u8, "ctx"u8), Is.Not.EqualTo(box), "fresh nonce each time");
    }
}
