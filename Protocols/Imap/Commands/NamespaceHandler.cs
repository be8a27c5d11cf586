using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>NAMESPACE (RFC 2342, RFC 9051 §6.3.10): the personal namespace "" and, when the server knows the
/// directory, the Other Users namespace "Other Users/" (RFC 2342 §5), both with "/" as delimiter; no shared one.</summary>
internal static class NamespaceHandler
{
    public static Task<ImapCompletion> RunAsync(NamespaceCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var w = session.Writer.BeginUntagged().Atom("NAMESPACE")
            .BeginList().BeginList().String("").String(MailboxNames.Delimiter).EndList().EndList();
        if (session.Directory is null)
            w.Nil();
        else
            w.BeginList().BeginList().Mailbox(MailboxNames.OtherUsersRoot + MailboxNames.Delimiter).String(MailboxNames.Delimiter).EndList().EndList();
        w.Nil().End();
        return Task.FromResult(ImapCompletion.Ok("NAMESPACE completed"));
    }
}
