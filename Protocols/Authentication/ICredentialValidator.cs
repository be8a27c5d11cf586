using System.Net;
using MailServer.Rules.Directory;

namespace MailServer.Protocols.Authentication;

/// <summary>The protocol a login arrives on, as access control rules name it (§6).</summary>
public enum LoginProtocol
{
    Imap,
    Smtp,
}

/// <summary>The outcome of a login attempt. A closed set; the reason never includes the password.</summary>
public abstract record LoginResult
{
    private LoginResult() { }

    /// <summary>The credentials are right and the user may log in over this protocol from this address.</summary>
    public sealed record Success(DirectoryUser User) : LoginResult;

    /// <summary>Wrong user name or password (the two are not told apart to the client).</summary>
    public sealed record InvalidCredentials : LoginResult;

    /// <summary>The user is disabled.</summary>
    public sealed record Disabled : LoginResult;

    /// <summary>An access control rule refused the login (§6); <see cref="RuleName"/> is for the audit log.</summary>
    public sealed record Denied(string? RuleName) : LoginResult;

    /// <summary>Too many recent failures for this address or account; try again after <see cref="RetryAfter"/>.</summary>
    public sealed record Throttled(TimeSpan RetryAfter) : LoginResult;
}

/// <summary>
/// Checks a user name (primary address or alias) and password. The Server implements it over the
/// configuration's password hashes, access control rules and failure throttling; protocols only ask.
/// </summary>
public interface ICredentialValidator
{
    /// <summary>Checks the credentials. Never throws for bad credentials; slow on purpose after failures.</summary>
    Task<LoginResult> ValidateAsync(string userName, string password, IPAddress remoteAddress, LoginProtocol protocol, CancellationToken cancellationToken);
}
