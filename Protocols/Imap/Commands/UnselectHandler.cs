using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>UNSELECT (RFC 3691, RFC 9051 §6.4.2): deselects without expunging.</summary>
internal static class UnselectHandler
{
    public static Task<ImapCompletion> RunAsync(UnselectCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var account = session.Account;
        session.Selected!.Dispose();
        session.State = new ImapSessionState.Authenticated(account);
        return Task.FromResult(ImapCompletion.Ok("UNSELECT completed"));
    }
}
