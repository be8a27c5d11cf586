using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>STATUS (RFC 9051 §6.3.11), also used by LIST-STATUS (RFC 5819).</summary>
internal static class StatusHandler
{
    public static Task<ImapCompletion> RunAsync(StatusCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadHierarchy);
        FolderRights.Require(named.Rights, 'r', "read the status"); // RFC 4314 §4: STATUS needs r
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name, named.Folder.FolderId);
        WriteStatus(session, named.Folder, command.Items, named.ClientName);
        return Task.FromResult(ImapCompletion.Ok("STATUS completed"));
    }

    public static void WriteStatus(ImapSession session, FolderInfo folder, IReadOnlyList<StatusItem> items, string? clientName = null)
    {
        IReadOnlyList<MessageMeta>? messages = null;
        IReadOnlyList<MessageMeta> Messages() => messages ??= session.Store.ListMessages(folder.FolderId);
        var w = session.Writer;
        w.BeginUntagged().Atom("STATUS").Mailbox(clientName ?? folder.Name).BeginList();
        foreach (var item in items)
        {
            switch (item)
            {
                case StatusItem.Messages: w.Atom("MESSAGES").Number((ulong)folder.MessageCount); break;
                case StatusItem.UidNext: w.Atom("UIDNEXT").Number(folder.UidNext); break;
                case StatusItem.UidValidity: w.Atom("UIDVALIDITY").Number(folder.UidValidity); break;
                case StatusItem.Unseen: w.Atom("UNSEEN").Number((ulong)folder.UnseenCount); break;
                case StatusItem.Deleted: w.Atom("DELETED").Number((ulong)Messages().Count(m => m.Flags.HasFlag(MessageFlags.Deleted))); break;
                case StatusItem.Size: w.Atom("SIZE").Number((ulong)Messages().Sum(m => m.Size)); break;
                case StatusItem.Recent: w.Atom("RECENT").Number((ulong)RecentCount(session, folder, Messages)); break;
                case StatusItem.HighestModSeq: w.Atom("HIGHESTMODSEQ").Number(folder.HighestModSeq); break;
                case StatusItem.AppendLimit: w.Atom("APPENDLIMIT").Number((ulong)session.Options.Limits.MaxMessageBytes); break;
                case StatusItem.MailboxId: w.Atom("MAILBOXID").BeginList().Atom(ObjectIds.MailboxId(folder)).EndList(); break;
            }
        }
        w.EndList().End();
    }

    /// <summary>RFC 3501 §6.3.10 RECENT: the messages no session took yet, plus those this session holds when the
    /// folder is the selected one.</summary>
    private static int RecentCount(ImapSession session, FolderInfo folder, Func<IReadOnlyList<MessageMeta>> messages)
    {
        var untaken = session.Recent.CountUntaken(folder.FolderId, messages);
        return session.Selected is { ReadOnly: false } selected && selected.FolderId == folder.FolderId ? untaken + selected.RecentCount : untaken;
    }
}
