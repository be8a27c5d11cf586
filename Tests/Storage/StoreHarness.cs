using System.Security.Cryptography;
using System.Text;
using MailServer.Storage;
using MailServer.Storage.Crypto;

namespace MailServer.Tests.Storage;

/// <summary>A master key provider over keys held by the test.</summary>
internal sealed class FixedKeys(IReadOnlyDictionary<string, byte[]> keys) : IMasterKeyProvider
{
    public static FixedKeys Random(params string[] organizations) =>
        new(organizations.ToDictionary(o => o, _ => RandomNumberGenerator.GetBytes(32)));

    public byte[] GetMasterKey(string organizationId) =>
        keys.TryGetValue(organizationId, out var key) ? key : throw new KeyNotFoundException(organizationId);
}

/// <summary>A store on MemoryStreams with blobs in a temp folder, reopenable on the same streams.</summary>
internal sealed class StoreHarness : IAsyncDisposable
{
    public const string Org = "org-1";

    private StoreHarness(string directory, IMasterKeyProvider keys, TimeSpan? keyTtl, int feedCapacity, TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        FeedCapacity = feedCapacity;
        Directory = directory;
        Keys = keys;
        KeyTtl = keyTtl ?? TimeSpan.FromSeconds(60);
        Store = Open(keys);
    }

    public string Directory { get; }
    public int FeedCapacity { get; }
    public TimeProvider Time { get; }
    public IMasterKeyProvider Keys { get; }
    public TimeSpan KeyTtl { get; }
    public MemoryStream Data { get; } = new();
    public MemoryStream Log { get; } = new();
    public MailStore Store { get; private set; }

    public static StoreHarness Create(IMasterKeyProvider? keys = null, TimeSpan? keyTtl = null, int feedCapacity = 1024, TimeProvider? time = null) =>
        new(NewTempDirectory(), keys ?? FixedKeys.Random(Org, "org-2"), keyTtl, feedCapacity, time);

    /// <summary>A store whose master key is a real key file (version 1, created now), for rotation and shredding tests
    /// that check the file itself; returns the file's path too.</summary>
    public static (StoreHarness Harness, string KeyFile) CreateWithKeyFile()
    {
        var keyFile = Path.Combine(NewTempDirectory(), "keys", "org-1.key");
        return (Create(new FileMasterKeyProvider(new Dictionary<string, string> { [Org] = keyFile })), keyFile);
    }

    public static string NewTempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "mailstore-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public MailStoreOptions Options(IMasterKeyProvider keys) => new()
    {
        DataDirectory = Directory,
        MasterKeys = keys,
        KeyCacheTimeToLive = KeyTtl,
        ChangeFeedCapacity = FeedCapacity,
        TimeProvider = Time,
    };

    /// <summary>Closes the store and opens it again on the same streams and blob folder.</summary>
    public async Task<MailStore> ReopenAsync(IMasterKeyProvider? keys = null)
    {
        await Store.DisposeAsync();
        Store = Open(keys ?? Keys);
        return Store;
    }

    private MailStore Open(IMasterKeyProvider keys)
    {
        Data.Position = 0;
        Log.Position = 0;
        return MailStore.OpenOnStreams(Options(keys), Data, Log);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    public string[] BlobFiles() =>
        System.IO.Directory.Exists(Store.BlobDirectory)
            ? System.IO.Directory.GetFiles(Store.BlobDirectory, "*", SearchOption.AllDirectories)
            : [];

    public static byte[] Message(string subject, string body, int padTo = 0)
    {
        var text = new StringBuilder()
            .Append("From: Alice <alice@example.com>\r\n")
            .Append("To: Bob <bob@example.com>\r\n")
            .Append("Subject: ").Append(subject).Append("\r\n")
            .Append("Message-ID: <").Append(Guid.NewGuid().ToString("N")).Append("@example.com>\r\n")
            .Append("\r\n")
            .Append(body).Append("\r\n");
        while (text.Length < padTo)
            text.Append("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
