using NUnit.Framework;
using MailServer.Server.Security;

namespace MailServer.Tests.Security;

[TestFixture]
public sealed class PasswordHasherTests
{
    [Test]
    public void A_hash_is_phc_pbkdf2_sha256_with_600000_iterations_and_verifies()
    {
        var hash = PasswordHasher.Hash("Correct-Horse-1");
        Assert.Multiple(() =>
        {
            Assert.That(hash, Does.Match(@"^\$pbkdf2-sha256\$i=600000,l=32\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$"));
            Assert.That(PasswordHasher.VerifyUncached("Correct-Horse-1", hash), Is.True);
            Assert.That(PasswordHasher.VerifyUncached("correct-Horse-1", hash), Is.False);
        });
    }

    [Test]
    public void Two_hashes_of_one_password_differ_by_salt()
    {
        var first = PasswordHasher.Hash("Correct-Horse-1", 1000);
        var second = PasswordHasher.Hash("Correct-Horse-1", 1000);
        Assert.That(first, Is.Not.EqualTo(second));
    }

    [Test]
    public void The_cache_never_accepts_a_wrong_password_or_an_old_hash()
    {
        var hasher = new PasswordHasher();
        var first = PasswordHasher.Hash("Correct-Horse-1", 1000);
        var second = PasswordHasher.Hash("Other-Horse-2", 1000);
        Assert.Multiple(() =>
        {
            Assert.That(hasher.Verify("Correct-Horse-1", first), Is.True);
            Assert.That(hasher.Verify("Correct-Horse-1", first), Is.True, "a cached success still verifies");
            Assert.That(hasher.Verify("Correct-Horse-", first), Is.False);
            Assert.That(hasher.Verify("Correct-Horse-1", second), Is.False, "after a password change the old password fails");
            Assert.That(hasher.Verify("Correct-Horse-1", null), Is.False);
        });
    }

    [Test]
    public void A_cached_success_expires_and_is_checked_again()
    {
        var clock = new ManualClock();
        var hasher = new PasswordHasher(clock, TimeSpan.FromSeconds(30));
        var hash = PasswordHasher.Hash("Correct-Horse-1", 1000);
        Assert.That(hasher.Verify("Correct-Horse-1", hash), Is.True);
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.That(hasher.Verify("Correct-Horse-1", hash), Is.True);
        Assert.That(hasher.Verify("wrong-Horse-1", hash), Is.False);
    }

    [TestCase("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA")]
    [TestCase("$pbkdf2-sha256$i=600000,l=32$c2FsdHNhbHQ=$aGFzaA")]
    [TestCase("$pbkdf2-sha256$i=10,l=32$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [TestCase("$pbkdf2-sha256$l=32$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [TestCase("$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0$AAAA")]
    [TestCase("plain")]
    public void Malformed_or_foreign_hashes_are_not_supported(string hash)
    {
        Assert.That(PasswordHasher.IsSupportedHash(hash), Is.False);
        Assert.That(new PasswordHasher().Verify("anything", hash), Is.False);
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}

[TestFixture]
public sealed class PasswordPolicyTests
{
    [TestCase("Abcdef1!")]
    [TestCase("abcdefg1!")]
    [TestCase("ABCDEFGH1é")]
    [TestCase("Abcdefgh1")]
    public void Accepts_three_of_five_classes_from_8_characters(string password) =>
        Assert.That(PasswordPolicy.Check(password), Is.Empty);

    [TestCase("", "empty")]
    [TestCase("Ab1!", "at least 8")]
    [TestCase("abcdefgh", "1 of the 5")]
    [TestCase("abcdefgh1", "2 of the 5")]
    [TestCase("Abcdefgh1€", "Latin-1")]
    public void Refuses_with_a_reason(string password, string reason) =>
        Assert.That(PasswordPolicy.Check(password), Has.Some.Contains(reason));

    [Test]
    public void Refuses_64_characters_and_accepts_63()
    {
        Assert.That(PasswordPolicy.Check("Aa1" + new string('x', 61)), Has.Some.Contains("fewer than 64"));
        Assert.That(PasswordPolicy.Check("Aa1" + new string('x', 60)), Is.Empty);
    }

    [Test]
    public void Generated_passwords_pass_the_policy()
    {
        for (var i = 0; i < 50; i++)
            Assert.That(PasswordPolicy.Check(PasswordPolicy.Generate()), Is.Empty);
    }
}
