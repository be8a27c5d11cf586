using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>LOGOUT (RFC 9051 §6.1.3): <c>* BYE</c>, the tagged OK, then the connection closes.</summary>
internal static class LogoutHandler
{
    public static Task<ImapCompletion> RunAsync(LogoutCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Selected?.Dispose();
        session.State = new ImapSessionState.Logout();
        session.Writer.Untagged(ImapStatus.Bye, null, "Logging out");
        session.CloseAfterReply();
        return Task.FromResult(ImapCompletion.Ok("LOGOUT completed"));
    }
}
