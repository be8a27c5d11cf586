using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace, "" with "/" as delimiter. The
/// "Other Users" namespace for Full Access arrives with mailbox permissions.</summary>
internal static class NamespaceHandler
{
    public static Task<ImapCompletion> RunAsync(NamespaceCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Writer.BeginUntagged().Atom("NAMESPACE")
            .BeginList().BeginList().String("").String(MailboxNames.Delimiter).EndList().EndList()
            .Nil().Nil().End();
        return Task.FromResult(ImapCompletion.Ok("NAMESPACE completed"));
    }
}
