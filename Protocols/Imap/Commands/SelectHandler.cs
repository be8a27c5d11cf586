using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>SELECT and EXAMINE (RFC 9051 §6.3.2/§6.3.3, CONDSTORE RFC 7162 §3.1.8, QRESYNC RFC 7162 §3.2.5).</summary>
internal static class SelectHandler
{
    public static Task<ImapCompletion> RunAsync(SelectCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        // RFC 7162 §3.2.5: the QRESYNC parameter without a prior ENABLE QRESYNC is a BAD.
        if (command.QResync is not null && !session.QResyncEnabled)
            throw new ImapSyntaxException("QRESYNC must be enabled first");
        var account = session.Account;
        // RFC 9051 §6.3.2: a SELECT first deselects the current mailbox, even when the new one cannot be selected.
        if (session.Selected is { } previous)
        {
            previous.Dispose();
            session.State = new ImapSessionState.Authenticated(account);
            session.Writer.Untagged(ImapStatus.Ok, ResponseCode.MailboxClosed, "Previous mailbox closed"); // RFC 7162 §3.2.11
        }
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadHierarchy);
        FolderRights.Require(named.Rights, 'r', "open this folder"); // RFC 4314 §4: SELECT and EXAMINE need r
        // RFC 4314 §4: without any right that changes the folder (s, w, i, t, e) a SELECT opens it read-only.
        var readOnly = command.ReadOnly || named.Rights.IndexOfAny(['s', 'w', 'i', 't', 'e']) < 0;
        if (command.CondStore)
            session.CondStoreEnabled = true;
        var selected = SelectedMailbox.Open(session.Store, named.Folder, named.ClientName, readOnly, session.Logger, named.Owner?.Email,
            session.Rev2Enabled ? null : session.Recent);
        selected.Rights = named.Rights;
        session.State = new ImapSessionState.Selected(account, selected);
        // WorkMail Administrator Guide, "Mailbox access logs": opening a folder reads its state (counts, UIDs), like STATUS → read_hierarchy.
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name, named.Folder.FolderId);

        var w = session.Writer;
        w.BeginUntagged().Number((ulong)selected.Count).Atom("EXISTS").End();
        if (!session.Rev2Enabled)
            w.BeginUntagged().Number((ulong)selected.RecentCount).Atom("RECENT").End(); // RFC 3501 §6.3.1
        selected.WriteFlags(w); // the system flags and the keywords in use (RFC 9051 §7.3.5)
        if (!session.Rev2Enabled && !session.UidOnlyEnabled) // RFC 9586 §3: UNSEEN is a sequence number
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
        w.Untagged(ImapStatus.Ok, new ResponseCode.MailboxObjectId(ObjectIds.MailboxId(named.Folder)), "Ok"); // RFC 8474 §4
        if (command.QResync is { } qresync && qresync.UidValidity == selected.UidValidity)
            WriteResync(session, selected, qresync);
        if (session.Rev2Enabled)
            w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(selected.Name).End();
        return Task.FromResult(new ImapCompletion(readOnly ? ResponseCode.ReadOnly : ResponseCode.ReadWrite,
            command.ReadOnly ? "EXAMINE completed" : "SELECT completed"));
    }

    /// <summary>
    /// RFC 7162 §3.2.5: with a matching UIDVALIDITY, <c>* VANISHED (EARLIER)</c> for the UIDs expunged since the
    /// client's MODSEQ, then FETCH (UID FLAGS MODSEQ) for each message changed since then; both limited to the
    /// known UIDs when given. The store keeps every expunged UID with its MODSEQ, so the answer is exact and the
    /// sequence-match data (a hint for servers that forget expunges, §3.2.5.2) is not needed.
    /// </summary>
    private static void WriteResync(ImapSession session, SelectedMailbox selected, QResyncParameters qresync)
    {
        var known = qresync.KnownUids?.Resolve(Math.Max(selected.UidNext, 1) - 1);
        var vanished = session.Store.ListExpungedSince(selected.FolderId, qresync.ModSeq)
            .Where(uid => known is null || known.Contains(uid)).ToList();
        var w = session.Writer;
        if (vanished.Count > 0)
            w.BeginUntagged().Atom("VANISHED").BeginList().Atom("EARLIER").EndList().SequenceSet(ResolvedSequenceSet.FromValues(vanished)).End();
        for (var seq = 1; seq <= selected.Count; seq++)
        {
            var meta = selected[seq];
            if (meta.ModSeq <= qresync.ModSeq || (known is not null && !known.Contains(meta.Uid)))
                continue;
            var f = UidOnly.BeginFetch(w, session.UidOnlyEnabled, seq, meta.Uid);
            if (!session.UidOnlyEnabled)
                f.Atom("UID").Number(meta.Uid);
            f.Atom("FLAGS").FlagList(meta.Flags, meta.Keywords, selected.IsRecent(meta.Uid))
                .Atom("MODSEQ").BeginList().Number(meta.ModSeq).EndList()
                .EndList().End();
        }
    }
}
