using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>STARTTLS (RFC 9051 §6.2.1): OK, then the session negotiates TLS and drops pipelined plain text.</summary>
internal static class StartTlsHandler
{
    public static Task<ImapCompletion> RunAsync(StartTlsCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (session.IsSecure)
            throw new ImapSyntaxException("TLS is already active");
        session.StartTlsRequested = true;
        return Task.FromResult(ImapCompletion.Ok("Begin TLS negotiation now"));
    }
}
