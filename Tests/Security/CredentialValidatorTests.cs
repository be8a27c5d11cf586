using System.Net;
using MailServer.Protocols.Authentication;
using MailServer.Rules.AccessControl;
using MailServer.Rules.Directory;
using MailServer.Server.Security;
using MailServer.Tests.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Security;

[TestFixture]
public sealed class CredentialValidatorTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Other = IPAddress.Parse("192.0.2.99");

    private sealed class Directory(MailDirectory current) : IDirectorySource
    {
        public MailDirectory Current => current;
    }

    private sealed class DenyImap : ILoginAccessRules
    {
        public AccessDecision Evaluate(DirectoryUser user, IPAddress remoteAddress, LoginProtocol protocol) =>
            protocol == LoginProtocol.Imap ? new AccessDecision.DeniedByRule("no-imap") : new AccessDecision.Allowed("rest");
    }

    private static (CredentialValidator Validator, ManualClock Clock) Create(ILoginAccessRules? rules = null, int refuseAfter = 3)
    {
        var org = new DirectoryOrganization("m-0123456789abcdef0123456789abcdef", "example", ["example.test"], "example.test");
        var hash = PasswordHasher.Hash("right", iterations: 1000);
        var directory = MailDirectory.Build([org],
        [
            new DirectoryUser(org.Id, "alice@example.test", "Alice", ["ali@example.test"], hash, true, 1024),
            new DirectoryUser(org.Id, "carol@example.test", "Carol", [], hash, false, 1024),
        ], []);
        var clock = new ManualClock();
        var throttle = new LoginThrottleOptions(TimeSpan.Zero, TimeSpan.Zero, refuseAfter, TimeSpan.FromMinutes(15));
        return (new CredentialValidator(new Directory(directory), new PasswordHasher(clock), rules, throttle, clock), clock);
    }

    private static Task<LoginResult> Login(CredentialValidator v, string user, string password, IPAddress? from = null) =>
        v.ValidateAsync(user, password, from ?? Client, LoginProtocol.Imap, CancellationToken.None);

    [Test]
    public async Task Address_and_alias_log_in_as_the_same_user_and_wrong_passwords_are_invalid()
    {
        var (v, _) = Create();
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Success>());
        var alias = await Login(v, "ALI@example.test", "right");
        Assert.That(alias, Is.TypeOf<LoginResult.Success>());
        Assert.That(((LoginResult.Success)alias).User.Email, Is.EqualTo("alice@example.test"));
        Assert.That(await Login(v, "alice@example.test", "wrong"), Is.TypeOf<LoginResult.InvalidCredentials>());
        Assert.That(await Login(v, "nobody@example.test", "right"), Is.TypeOf<LoginResult.InvalidCredentials>());
        Assert.That(await Login(v, "alice", "right"), Is.TypeOf<LoginResult.Success>(), "bare user name in the default domain");
        Assert.That(await Login(v, "", "right"), Is.TypeOf<LoginResult.InvalidCredentials>());
    }

    [Test]
    public async Task Disabled_users_and_denying_rules_are_told_apart_only_after_a_right_password()
    {
        var (v, _) = Create();
        Assert.That(await Login(v, "carol@example.test", "wrong"), Is.TypeOf<LoginResult.InvalidCredentials>());
        Assert.That(await Login(v, "carol@example.test", "right"), Is.TypeOf<LoginResult.Disabled>());
        var (denying, _) = Create(new DenyImap());
        Assert.That(await Login(denying, "alice@example.test", "right"), Is.EqualTo(new LoginResult.Denied("no-imap")));
    }

    [Test]
    public async Task Failures_lock_the_account_from_that_address_only_until_the_window_passes()
    {
        var (v, clock) = Create(refuseAfter: 3);
        for (var i = 0; i < 3; i++)
            Assert.That(await Login(v, "alice@example.test", "wrong"), Is.TypeOf<LoginResult.InvalidCredentials>());
        // Locked from the attacking address, even with the right password (and under an alias)...
        var throttled = await Login(v, "ali@example.test", "right");
        Assert.That(throttled, Is.TypeOf<LoginResult.Throttled>());
        Assert.That(((LoginResult.Throttled)throttled).RetryAfter, Is.EqualTo(TimeSpan.FromMinutes(15)));
        // ...but the owner logs in from elsewhere (slowed down, not refused).
        Assert.That(await Login(v, "alice@example.test", "right", Other), Is.TypeOf<LoginResult.Success>());
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Throttled>());
        clock.Advance(TimeSpan.FromMinutes(16));
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Success>());
    }

    [Test]
    public async Task Failures_spread_over_accounts_and_addresses_lock_nobody_out()
    {
        var (v, _) = Create(refuseAfter: 3);
        foreach (var name in new[] { "x@example.test", "y@example.test", "z@example.test", "alice@example.test", "alice@example.test" })
            Assert.That(await Login(v, name, "guess"), Is.TypeOf<LoginResult.InvalidCredentials>());
        for (var i = 0; i < 2; i++)
            Assert.That(await Login(v, "alice@example.test", "guess", IPAddress.Parse($"198.51.100.{i + 1}")), Is.TypeOf<LoginResult.InvalidCredentials>());
        // Five failures from the address and four on the account: slowed down, but no account-and-address pair is at three.
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Success>());
    }

    [Test]
    public async Task A_success_clears_earlier_failures()
    {
        var (v, _) = Create(refuseAfter: 3);
        await Login(v, "alice@example.test", "wrong");
        await Login(v, "alice@example.test", "wrong");
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Success>());
        await Login(v, "alice@example.test", "wrong");
        await Login(v, "alice@example.test", "wrong");
        Assert.That(await Login(v, "alice@example.test", "right"), Is.TypeOf<LoginResult.Success>());
    }
}
