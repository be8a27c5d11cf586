using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// FETCH / UID FETCH (RFC 9051 §6.4.5) with CHANGEDSINCE (RFC 7162 §3.1.4). Metadata items (FLAGS, UID,
/// INTERNALDATE, RFC822.SIZE, MODSEQ) come from the view; the whole message (BODY[], BODY.PEEK[], RFC822) and the
/// header (BODY[HEADER], RFC822.HEADER) from the store. Structure items (ENVELOPE, BODYSTRUCTURE, parts, BINARY)
/// need the message views and are refused with NO [CANNOT] until they are wired in.
/// </summary>
internal static class FetchHandler
{
    public static async Task<ImapCompletion> RunAsync(FetchCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var items = command.Items;
        foreach (var item in items)
        {
            if (!IsSupported(item))
                throw new ImapRefusedException(ResponseCode.Cannot, "This FETCH item is not available yet");
        }
        if (command.Vanished)
            throw new ImapSyntaxException("VANISHED needs QRESYNC, which is not enabled");
        var messages = selected.Resolve(command.Set, command.Uid);
        var wantsModSeq = command.ChangedSince is not null || items.Any(i => i is FetchItem.Attribute { Kind: FetchAttribute.ModSeq });
        if (wantsModSeq)
            session.CondStoreEnabled = true;
        var setsSeen = !selected.ReadOnly && items.Any(i => i is FetchItem.BodySection { Peek: false } or FetchItem.Attribute { Kind: FetchAttribute.Rfc822 });
        var mailboxId = session.Account.MailboxId;
        var expungedMeanwhile = false;

        foreach (var (seq, original) in messages)
        {
            var meta = original;
            if (command.ChangedSince is { } since && meta.ModSeq <= since)
                continue;
            var flagsChanged = false;
            if (setsSeen && !meta.Flags.HasFlag(MessageFlags.Seen))
            {
                var updated = await session.Store.SetFlagsAsync(selected.FolderId, [meta.Uid], FlagOperation.Add, MessageFlags.Seen, [], cancellationToken);
                selected.ApplyOwnChanges(updated);
                if (updated.Count > 0)
                {
                    meta = updated[0];
                    flagsChanged = true;
                }
            }
            byte[]? content = null;
            byte[]? header = null;
            try
            {
                if (items.Any(NeedsContent))
                    content = await session.Store.ReadMessageAsync(mailboxId, meta.EntryId, cancellationToken);
                else if (items.Any(NeedsHeader))
                    header = session.Store.ReadHeaderSection(mailboxId, meta.EntryId);
            }
            catch (KeyNotFoundException)
            {
                expungedMeanwhile = true; // expunged by another session; the client hears EXPUNGE later
                continue;
            }

            var w = session.Writer.BeginUntagged().Number((ulong)seq).Atom("FETCH").BeginList();
            var uidWritten = false;
            if (command.Uid)
            {
                w.Atom("UID").Number(meta.Uid);
                uidWritten = true;
            }
            var flagsWritten = false;
            foreach (var item in items)
            {
                switch (item)
                {
                    case FetchItem.Attribute { Kind: FetchAttribute.Uid }:
                        if (!uidWritten)
                            w.Atom("UID").Number(meta.Uid);
                        uidWritten = true;
                        break;
                    case FetchItem.Attribute { Kind: FetchAttribute.Flags }:
                        w.Atom("FLAGS").FlagList(ImapFlags.ToWire(meta.Flags, meta.Keywords));
                        flagsWritten = true;
                        break;
                    case FetchItem.Attribute { Kind: FetchAttribute.InternalDate }:
                        w.Atom("INTERNALDATE").DateTime(meta.InternalDate);
                        break;
                    case FetchItem.Attribute { Kind: FetchAttribute.Rfc822Size }:
                        w.Atom("RFC822.SIZE").Number((ulong)meta.Size);
                        break;
                    case FetchItem.Attribute { Kind: FetchAttribute.ModSeq }:
                        break; // written once below
                    case FetchItem.Attribute { Kind: FetchAttribute.Rfc822 }:
                        w.Atom("RFC822").Literal(content);
                        break;
                    case FetchItem.Attribute { Kind: FetchAttribute.Rfc822Header }:
                        w.Atom("RFC822.HEADER").Literal(header ?? HeaderOf(content!));
                        break;
                    case FetchItem.BodySection body:
                    {
                        var data = body.Section.Text == SectionText.Header ? header ?? HeaderOf(content!) : content!;
                        w.RawToken(body.ResponseName).Literal(Slice(data, body.Partial));
                        break;
                    }
                }
            }
            if (flagsChanged && !flagsWritten)
                w.Atom("FLAGS").FlagList(ImapFlags.ToWire(meta.Flags, meta.Keywords)); // RFC 9051 §6.4.5: \Seen was set
            if (wantsModSeq)
                w.Atom("MODSEQ").BeginList().Number(meta.ModSeq).EndList();
            w.EndList().End();
            await session.FlushIfLargeAsync(cancellationToken);
        }
        if (expungedMeanwhile)
            throw new ImapRefusedException(ResponseCode.ExpungeIssued, "Some messages were expunged meanwhile");
        return ImapCompletion.Ok("FETCH completed");
    }

    private static bool IsSupported(FetchItem item) => item switch
    {
        FetchItem.Attribute a => a.Kind is FetchAttribute.Flags or FetchAttribute.Uid or FetchAttribute.InternalDate
            or FetchAttribute.Rfc822Size or FetchAttribute.ModSeq or FetchAttribute.Rfc822 or FetchAttribute.Rfc822Header,
        FetchItem.BodySection b => b.Section.Part.Count == 0 && b.Section.Text is SectionText.None or SectionText.Header,
        _ => false,
    };

    private static bool NeedsContent(FetchItem item) =>
        item is FetchItem.Attribute { Kind: FetchAttribute.Rfc822 } or FetchItem.BodySection { Section.Text: SectionText.None };

    private static bool NeedsHeader(FetchItem item) =>
        item is FetchItem.Attribute { Kind: FetchAttribute.Rfc822Header } or FetchItem.BodySection { Section.Text: SectionText.Header };

    private static byte[] HeaderOf(byte[] message)
    {
        var end = message.AsSpan().IndexOf("\r\n\r\n"u8);
        return end < 0 ? message : message[..(end + 4)];
    }

    private static ReadOnlySpan<byte> Slice(byte[] data, Partial? partial)
    {
        if (partial is null)
            return data;
        var start = (int)Math.Min(partial.Offset, data.Length);
        var length = (int)Math.Min(partial.Length, data.Length - start);
        return data.AsSpan(start, length);
    }
}
