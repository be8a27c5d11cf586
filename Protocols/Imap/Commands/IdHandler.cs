using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>ID (RFC 2971): the server names itself; what the client sends is not logged (it may identify a person).</summary>
internal static class IdHandler
{
    public static Task<ImapCompletion> RunAsync(IdCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Writer.BeginUntagged().Atom("ID").BeginList().String("name").String("MailServer").EndList().End();
        return Task.FromResult(ImapCompletion.Ok("ID completed"));
    }
}
