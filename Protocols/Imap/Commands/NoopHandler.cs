using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>NOOP (RFC 9051 §6.1.2) and CHECK (RFC 3501 §6.4.1): nothing to do; the session's post-command
/// update sends pending EXISTS / EXPUNGE / FETCH responses.</summary>
internal static class NoopHandler
{
    public static Task<ImapCompletion> RunAsync(NoopCommand command, ImapSession session, CancellationToken cancellationToken) =>
        Task.FromResult(ImapCompletion.Ok("NOOP completed"));

    public static Task<ImapCompletion> RunCheckAsync(CheckCommand command, ImapSession session, CancellationToken cancellationToken) =>
        Task.FromResult(ImapCompletion.Ok("CHECK completed"));
}
