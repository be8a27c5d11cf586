using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>SELECT and EXAMINE (RFC 9051 §6.3.2/§6.3.3, CONDSTORE RFC 7162 §3.1.8).</summary>
internal static class SelectHandler
{
    public static Task<ImapCompletion> RunAsync(SelectCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.QResync is not null)
            throw new ImapSyntaxException("QRESYNC is not supported");
        var account = session.Account;
        // RFC 9051 §6.3.2: a SELECT first deselects the current mailbox, even when the new one cannot be selected.
        if (session.Selected is { } previous)
        {
            previous.Dispose();
            session.State = new ImapSessionState.Authenticated(account);
            session.Writer.Untagged(ImapStatus.Ok, ResponseCode.MailboxClosed, "Previous mailbox closed"); // RFC 7162 §3.2.11
        }
        var folder = MailboxNames.Require(session, command.Mailbox);
        if (command.CondStore)
            session.CondStoreEnabled = true;
        var selected = SelectedMailbox.Open(session.Store, folder, folder.Name, command.ReadOnly, session.Logger);
        session.State = new ImapSessionState.Selected(account, selected);

        var w = session.Writer;
        w.BeginUntagged().Number((ulong)selected.Count).Atom("EXISTS").End();
        if (!session.Rev2Enabled)
            w.BeginUntagged().Number(0).Atom("RECENT").End(); // RFC 3501 §6.3.1 requires it; \Recent is not kept
        w.BeginUntagged().Atom("FLAGS").FlagList(ImapFlags.System).End();
        w.Untagged(ImapStatus.Ok, new ResponseCode.PermanentFlags(command.ReadOnly ? ValueList<string>.Empty : ValueList.Of(ImapFlags.Permanent)), "Flags permitted");
        if (!session.Rev2Enabled)
        {
            for (var seq = 1; seq <= selected.Count; seq++)
            {
                if (!selected[seq].Flags.HasFlag(MessageFlags.Seen))
                {
                    w.Untagged(ImapStatus.Ok, new ResponseCode.FirstUnseen((uint)seq), "First unseen");
                    break;
                }
            }
        }
        w.Untagged(ImapStatus.Ok, new ResponseCode.MailboxUidValidity(selected.UidValidity), "UIDs valid");
        w.Untagged(ImapStatus.Ok, new ResponseCode.NextUid(selected.UidNext), "Predicted next UID");
        w.Untagged(ImapStatus.Ok, new ResponseCode.HighestModSeq(selected.HighestModSeq), "Highest"); // RFC 7162 §3.1.2.1
        if (session.Rev2Enabled)
            w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(folder.Name).End();
        return Task.FromResult(new ImapCompletion(command.ReadOnly ? ResponseCode.ReadOnly : ResponseCode.ReadWrite,
            command.ReadOnly ? "EXAMINE completed" : "SELECT completed"));
    }
}
