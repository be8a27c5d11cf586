using MailServer.Rules.Directory;
using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>The logged-in user and the store mailbox that belongs to them.</summary>
/// <param name="User">The directory entry the login resolved to (by address or alias).</param>
/// <param name="Mailbox">The user's mailbox in the store.</param>
public sealed record ImapAccount(DirectoryUser User, MailboxInfo Mailbox)
{
    /// <summary>The store mailbox id.</summary>
    public string MailboxId => Mailbox.MailboxId;
}

/// <summary>The IMAP connection states (RFC 9051 §3); each carries exactly the data that exists in it.</summary>
public abstract record ImapSessionState
{
    private ImapSessionState() { }

    /// <summary>Before a successful LOGIN/AUTHENTICATE (RFC 9051 §3.1).</summary>
    /// <param name="FailedLogins">Failed attempts on this connection; the session closes after a few.</param>
    public sealed record NotAuthenticated(int FailedLogins) : ImapSessionState;

    /// <summary>Logged in, no mailbox selected (RFC 9051 §3.2).</summary>
    public sealed record Authenticated(ImapAccount Account) : ImapSessionState;

    /// <summary>A mailbox is selected (RFC 9051 §3.3).</summary>
    public sealed record Selected(ImapAccount Account, SelectedMailbox Mailbox) : ImapSessionState;

    /// <summary>LOGOUT was given or the server is closing (RFC 9051 §3.4).</summary>
    public sealed record Logout : ImapSessionState;
}

/// <summary>The states a command may run in, as the command table lists them.</summary>
[Flags]
public enum ImapStates
{
    /// <summary>Not authenticated.</summary>
    NotAuthenticated = 1,
    /// <summary>Authenticated.</summary>
    Authenticated = 2,
    /// <summary>Selected.</summary>
    Selected = 4,
    /// <summary>Authenticated or selected.</summary>
    LoggedIn = Authenticated | Selected,
    /// <summary>Any state.</summary>
    Any = NotAuthenticated | Authenticated | Selected,
}
