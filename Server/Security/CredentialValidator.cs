using System.Collections.Concurrent;
using System.Net;
using MailServer.Protocols.Authentication;
using MailServer.Rules.AccessControl;
using MailServer.Rules.Directory;

namespace MailServer.Server.Security;

/// <summary>
/// The seam where access control rules (§6) decide whether a user with good credentials may log in over a
/// protocol from an address. Evaluated once per login that passed the password check.
/// </summary>
public interface ILoginAccessRules
{
    /// <summary>The effect of the rules on this login and the rule that decided it.</summary>
    AccessDecision Evaluate(DirectoryUser user, IPAddress remoteAddress, LoginProtocol protocol);
}

/// <summary>No rule evaluation: every login with good credentials is allowed (tests and tools only).</summary>
public sealed class AllowAllLoginAccessRules : ILoginAccessRules
{
    /// <summary>The rule name reported for every login.</summary>
    public const string RuleName = "allow-all";

    /// <inheritdoc />
    public AccessDecision Evaluate(DirectoryUser user, IPAddress remoteAddress, LoginProtocol protocol) =>
        new AccessDecision.Allowed(RuleName);
}

/// <summary>
/// One login attempt as the audit log and the metrics see it (§19.2, §19.3, §20). Never holds the password.
/// </summary>
/// <param name="UserName">The name the client typed.</param>
/// <param name="User">The user it named, when one was found.</param>
/// <param name="RemoteAddress">The client's address.</param>
/// <param name="Protocol">The protocol the attempt came over.</param>
/// <param name="Result">The outcome returned to the protocol.</param>
/// <param name="Access">The access control evaluation, when the credentials were good and the rules ran.</param>
public sealed record LoginAttempt(string UserName, DirectoryUser? User, IPAddress RemoteAddress, LoginProtocol Protocol,
    LoginResult Result, AccessDecision? Access);

/// <summary>Told of every login attempt once it is decided (the audit log and the metrics listen here).</summary>
public interface ILoginObserver
{
    /// <summary>Records the attempt. Must not throw and must not block on slow I/O for long.</summary>
    void Observe(LoginAttempt attempt);
}

/// <summary>How failed logins are slowed down.</summary>
/// <param name="BaseDelay">Delay before the attempt that follows the first failure; doubles with each further failure.</param>
/// <param name="MaxDelay">The longest delay applied to one attempt.</param>
/// <param name="RefuseAfterFailures">From this many recent failures of one account from one address on, that account
/// is refused from that address outright (Throttled) without checking the password, until the failures age out.</param>
/// <param name="FailureWindow">How long a failure counts.</param>
public sealed record LoginThrottleOptions(TimeSpan BaseDelay, TimeSpan MaxDelay, int RefuseAfterFailures, TimeSpan FailureWindow)
{
    /// <summary>1 s doubling to 16 s; refused after 10 failures within 15 minutes.</summary>
    public static LoginThrottleOptions Default { get; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(16), 10, TimeSpan.FromMinutes(15));

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A delay or the window is negative, or the refusal count is below 1.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BaseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, BaseDelay);
        ArgumentOutOfRangeException.ThrowIfLessThan(RefuseAfterFailures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FailureWindow, TimeSpan.Zero);
    }
}

/// <summary>
/// Checks IMAP LOGIN / SMTP AUTH credentials against the live directory: the user is found by primary address,
/// alias or bare user name, the password by <see cref="PasswordHasher"/> (with its success cache). Failures are counted per remote
/// address, per account and per account-and-address. Each counted failure of the address or of the account doubles
/// the delay before the next attempt from there or for it is checked (bounded): guessing is slowed down wherever it
/// comes from. Only the account-and-address pair is locked out (<see cref="LoginResult.Throttled"/>, without touching
/// the hash) past the limit, so an attack on one account neither locks out another user behind the same address
/// (a NAT, a shared proxy) nor the account's owner elsewhere. A success clears the account's failures and the pair's;
/// the address's age out, so logging into an account of one's own does not reset the slow-down. Thread-safe.
/// </summary>
public sealed class CredentialValidator : ICredentialValidator
{
    private const int MaxTrackedKeys = 100_000;

    private readonly IDirectorySource _directory;
    private readonly PasswordHasher _hasher;
    private readonly ILoginAccessRules _rules;
    private readonly LoginThrottleOptions _throttle;
    private readonly TimeProvider _time;
    private readonly ILoginObserver? _observer;
    private readonly ConcurrentDictionary<string, FailureRecord> _failures = new(StringComparer.Ordinal);
    private readonly Lazy<string> _dummyHash = new(() => PasswordHasher.Hash(Guid.NewGuid().ToString("N")));

    /// <summary>Creates a validator.</summary>
    /// <param name="directory">The live directory (address and alias resolution, password hashes, enabled flag).</param>
    /// <param name="hasher">Verifies passwords.</param>
    /// <param name="rules">Access control rules; <see cref="AllowAllLoginAccessRules"/> until rules are evaluated.</param>
    /// <param name="throttle">Failure slow-down; <see cref="LoginThrottleOptions.Default"/> when null.</param>
    /// <param name="time">Clock and delay source; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="observer">Told of every decided attempt (audit log, metrics); none when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="throttle"/> is invalid.</exception>
    public CredentialValidator(IDirectorySource directory, PasswordHasher hasher, ILoginAccessRules? rules = null,
        LoginThrottleOptions? throttle = null, TimeProvider? time = null, ILoginObserver? observer = null)
    {
        _observer = observer;
        _directory = directory ?? throw new ArgumentNullException(nameof(directory));
        _hasher = hasher ?? throw new ArgumentNullException(nameof(hasher));
        _rules = rules ?? new AllowAllLoginAccessRules();
        _throttle = throttle ?? LoginThrottleOptions.Default;
        _throttle.Validate();
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public async Task<LoginResult> ValidateAsync(string userName, string password, IPAddress remoteAddress, LoginProtocol protocol, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        var directory = _directory.Current; // one snapshot for the whole decision
        var user = FindUser(directory, userName.Trim());
        var ipKey = "ip:" + remoteAddress;
        // Failures of an unknown name count against the name as typed, so guessing names is slowed down too.
        var account = user?.Email ?? userName.Trim().ToLowerInvariant();
        var accountKey = "acct:" + account;
        var pairKey = "pair:" + remoteAddress + "|" + account;

        var now = _time.GetUtcNow();
        if (RecentFailures(pairKey, now) >= _throttle.RefuseAfterFailures)
            return Observed(new LoginResult.Throttled(RetryAfter(pairKey, now)), null);
        var failures = Math.Max(RecentFailures(ipKey, now), RecentFailures(accountKey, now));
        if (failures > 0)
            await Task.Delay(DelayFor(failures), _time, cancellationToken).ConfigureAwait(false);

        // Verify against a dummy hash for an unknown user so the answer takes as long (no user enumeration by timing).
        var verified = _hasher.Verify(password, user?.PasswordHash ?? _dummyHash.Value) && user?.PasswordHash is not null;
        if (user is null || !verified)
        {
            RecordFailure(ipKey);
            RecordFailure(accountKey);
            RecordFailure(pairKey);
            return Observed(new LoginResult.InvalidCredentials(), null);
        }
        if (!user.Enabled)
            return Observed(new LoginResult.Disabled(), null);
        var access = _rules.Evaluate(user, remoteAddress, protocol);
        if (!access.Granted)
            return Observed(new LoginResult.Denied(access.RuleName), access);

        _failures.TryRemove(accountKey, out _);
        _failures.TryRemove(pairKey, out _);
        return Observed(new LoginResult.Success(user), access);

        LoginResult Observed(LoginResult result, AccessDecision? decision)
        {
            _observer?.Observe(new LoginAttempt(userName, user, remoteAddress, protocol, result, decision));
            return result;
        }
    }

    /// <summary>
    /// The user named by a primary address or alias, or by a bare user name (the local part in its organization's
    /// default domain, WorkMail's "user name" login) when exactly one organization has such a user.
    /// </summary>
    private static DirectoryUser? FindUser(MailDirectory directory, string name)
    {
        if (name.Length == 0)
            return null;
        if (name.Contains('@', StringComparison.Ordinal))
            return directory.FindUser(name);
        var candidates = directory.Organizations
            .Select(o => directory.FindUser(name + "@" + o.DefaultDomain))
            .Where(u => u is not null)
            .Distinct()
            .ToList();
        return candidates.Count == 1 ? candidates[0] : null;
    }

    private TimeSpan DelayFor(int failures)
    {
        var factor = Math.Pow(2, Math.Min(failures - 1, 30));
        var ticks = Math.Min(_throttle.BaseDelay.Ticks * factor, _throttle.MaxDelay.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }

    private int RecentFailures(string key, DateTimeOffset now) =>
        _failures.TryGetValue(key, out var record) && now - record.Last < _throttle.FailureWindow ? record.Count : 0;

    private TimeSpan RetryAfter(string key, DateTimeOffset now)
    {
        var last = _failures.TryGetValue(key, out var r) ? r.Last : DateTimeOffset.MinValue;
        var remaining = last + _throttle.FailureWindow - now;
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private void RecordFailure(string key)
    {
        var now = _time.GetUtcNow();
        if (_failures.Count >= MaxTrackedKeys)
            Prune(now);
        _failures.AddOrUpdate(key,
            _ => new FailureRecord(1, now),
            (_, old) => new FailureRecord(now - old.Last < _throttle.FailureWindow ? old.Count + 1 : 1, now));
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, record) in _failures)
            if (now - record.Last >= _throttle.FailureWindow)
                _failures.TryRemove(key, out _);
    }

    private sealed record FailureRecord(int Count, DateTimeOffset Last);
}
