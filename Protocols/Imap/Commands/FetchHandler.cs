using System.Buffers;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// FETCH / UID FETCH (RFC 9051 §6.4.5) with CHANGEDSINCE (RFC 7162 §3.1.4). Metadata items (FLAGS, UID,
/// INTERNALDATE, RFC822.SIZE, MODSEQ) come from the view; content items are written by
/// <see cref="FetchDataWriter"/> over the header section (ENVELOPE, header sections) or the full message, each read
/// from the store only when an item needs it. Each message's response is built in a scratch buffer, so an
/// unknown transfer encoding (BINARY) leaves no half line: the command ends <c>NO [UNKNOWN-CTE]</c> (RFC 3516 §4.3).
/// </summary>
internal static class FetchHandler
{
    public static async Task<ImapCompletion> RunAsync(FetchCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var items = command.Items;
        // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, after ENABLE QRESYNC; otherwise BAD.
        if (command.Vanished && !(command.Uid && command.ChangedSince is not null && session.QResyncEnabled))
            throw new ImapSyntaxException("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        var messages = selected.Resolve(command.Set, command.Uid);
        if (command.Partial is { } range)
        {
            // RFC 9394 §3.2: only the window of the messages the set names (after CHANGEDSINCE), in UID order.
            if (command.ChangedSince is { } changed)
                messages = messages.Where(m => m.Meta.ModSeq > changed).ToList();
            var (start, length) = range.Window(messages.Count);
            messages = messages.GetRange(start, length);
        }
        if (command.Vanished)
        {
            // The UIDs of the set expunged since CHANGEDSINCE, before the FETCH responses. "*" stands for the
            // highest UID ever assigned here, so a client learns that the last messages vanished too.
            var asked = command.Set.Resolve(Math.Max(selected.UidNext, 1) - 1);
            var vanished = session.Store.ListExpungedSince(selected.FolderId, command.ChangedSince!.Value).Where(asked.Contains).ToList();
            if (vanished.Count > 0)
                session.Writer.BeginUntagged().Atom("VANISHED").BeginList().Atom("EARLIER").EndList()
                    .SequenceSet(ResolvedSequenceSet.FromValues(vanished)).End();
        }
        var wantsModSeq = command.ChangedSince is not null || items.Any(i => i is FetchItem.Attribute { Kind: FetchAttribute.ModSeq });
        if (wantsModSeq)
            session.EnableCondStore();
        var contentItems = items.Where(FetchDataWriter.IsContentItem).ToList();
        // When the only items that need the body are the whole message (BODY[], RFC822, with or without a partial
        // range), it is streamed from the store: a range decrypts only its segments, a whole message goes to the
        // socket a segment at a time, and the message is never held whole in memory (nothing to parse).
        var streamed = contentItems.Where(FetchDataWriter.NeedsFullMessage).ToList() is { Count: > 0 } bodyNeeds && bodyNeeds.All(IsWholeMessage);
        var needsFull = !streamed && contentItems.Any(FetchDataWriter.NeedsFullMessage);
        var needsHeader = streamed ? contentItems.Any(i => !IsWholeMessage(i)) : contentItems.Count > 0 && !needsFull;
        // Other body items (BODYSTRUCTURE, BODY[2], BINARY[2], ...) of a big message are answered from its structure
        // scanned off the stored stream, the parts read by range (PREVIEW reads only the text parts).
        var structureFromStream = needsFull;
        // RFC 9051 §6.4.5: BODY[...], BINARY[...] and RFC822 / RFC822.TEXT set \Seen; the .PEEK forms do not.
        var setsSeen = !selected.ReadOnly && items.Any(i => i is FetchItem.BodySection { Peek: false } or FetchItem.Binary { Peek: false }
            or FetchItem.Attribute { Kind: FetchAttribute.Rfc822 or FetchAttribute.Rfc822Text });
        // RFC 9051 §7.3.5: a keyword is announced by FLAGS before a FETCH response shows it.
        if (items.Any(i => i is FetchItem.Attribute { Kind: FetchAttribute.Flags }) || setsSeen)
            selected.AnnounceKeywords(session.Writer, messages.Select(m => m.Meta));
        var mailboxId = selected.Folder.MailboxId; // the owner's mailbox for an Other Users folder
        var expungedMeanwhile = false;
        // \Seen is set for all fetched messages in one store write, before their responses are written.
        var seenSet = new Dictionary<uint, MessageMeta>();
        if (setsSeen)
        {
            var unseen = messages.Where(m => !m.Meta.Flags.HasFlag(MessageFlags.Seen)
                                             && (command.ChangedSince is not { } since || m.Meta.ModSeq > since))
                .Select(m => m.Meta.Uid).ToList();
            if (unseen.Count > 0)
            {
                var updated = await session.Store.SetFlagsAsync(selected.FolderId, unseen, FlagOperation.Add, MessageFlags.Seen, [], cancellationToken);
                selected.ApplyOwnChanges(updated);
                foreach (var meta in updated)
                    seenSet[meta.Uid] = meta;
            }
        }
        // WorkMail Administrator Guide, "Mailbox access logs": one record per command; a body item is "read", metadata only "read_summary", and
        // a FETCH whose body items are all attachment parts (BODY[2], BINARY[2]) "read_attachment", known once the
        // parts are seen, so that record is written when the command ends, however it ends.
        var bodyItems = items.Where(i => i is FetchItem.BodySection { Section.Text: not (SectionText.Header or SectionText.HeaderFields or SectionText.HeaderFieldsNot) }
            or FetchItem.Binary or FetchItem.Attribute { Kind: FetchAttribute.Rfc822 or FetchAttribute.Rfc822Text }).ToList();
        var attachmentParts = bodyItems.Select(AttachmentPartOf).ToList();
        var audited = messages.Where(m => command.ChangedSince is not { } since || m.Meta.ModSeq > since).Select(m => m.Meta.Uid).ToList();
        var mayReadAttachments = attachmentParts.Count > 0 && attachmentParts.All(p => p is not null);
        var attachmentNames = mayReadAttachments ? new List<string>() : null;
        if (messages.Count > 0 && !mayReadAttachments)
            session.RecordSelectedAccess(bodyItems.Count > 0 ? MailboxAccessAction.Read : MailboxAccessAction.ReadSummary, audited);
        try
        {
            var scratch = new ArrayBufferWriter<byte>(4096);
            var w = new ImapResponseWriter(scratch);

            foreach (var (seq, original) in messages)
            {
                var meta = original;
                if (command.ChangedSince is { } since && meta.ModSeq <= since)
                    continue;
                ImapMessageView? view;
                Stream? body = null;
                var fromStream = false;
                try
                {
                    view = null;
                    if (streamed)
                        body = session.Store.OpenMessage(mailboxId, meta.EntryId);
                    else if (structureFromStream && meta.Size >= session.Options.Limits.StreamedFetchBytes)
                    {
                        body = session.Store.OpenMessage(mailboxId, meta.EntryId);
                        view = OpenStructure(session, selected, meta, body, cancellationToken);
                        fromStream = view is not null;
                        if (!fromStream)
                        {
                            body.Dispose();
                            body = null;
                        }
                    }
                    if (needsHeader)
                    {
                        var section = session.Store.ReadHeaderSection(mailboxId, meta.EntryId);
                        // The store keeps at most 256 KiB of header; a longer header is served from the message itself.
                        if (ImapMessageView.IsCompleteHeaderSection(section, meta.Size))
                            view = ImapMessageView.ParseHeaderOnly(section);
                    }
                    if (!fromStream && (needsFull || (needsHeader && view is null)))
                        view = ImapMessageView.Parse(await session.Store.ReadMessageAsync(mailboxId, meta.EntryId, cancellationToken));
                }
                catch (KeyNotFoundException)
                {
                    body?.Dispose();
                    expungedMeanwhile = true; // expunged by another session; the client hears EXPUNGE later
                    continue;
                }
                catch
                {
                    body?.Dispose();
                    throw;
                }
                using var bodyScope = body;
                if (attachmentNames is not null)
                {
                    foreach (var part in attachmentParts)
                    {
                        if (view!.AttachmentName(part!) is not { } name)
                        {
                            attachmentNames = null;
                            break;
                        }
                        if (!attachmentNames.Contains(name, StringComparer.Ordinal))
                            attachmentNames.Add(name);
                    }
                }

                var flagsChanged = seenSet.TryGetValue(meta.Uid, out var afterSeen);
                if (flagsChanged)
                    meta = afterSeen!;

                scratch.ResetWrittenCount();
                UidOnly.BeginFetch(w, session.UidOnlyEnabled, seq, meta.Uid);
                var uidWritten = false;
                // RFC 9586 §3.3: a UIDFETCH response carries the UID already; the UID item only when asked for.
                if (command.Uid && !session.UidOnlyEnabled)
                {
                    w.Atom("UID").Number(meta.Uid);
                    uidWritten = true;
                }
                var flagsWritten = false;
                var streamedAny = false;
                try
                {
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
                                w.Atom("FLAGS").FlagList(meta.Flags, meta.Keywords, selected.IsRecent(meta.Uid));
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
                            case FetchItem.Attribute { Kind: FetchAttribute.SaveDate }:
                                w.Atom("SAVEDATE").DateTime(meta.SavedAt); // RFC 8514 §4
                                break;
                            case FetchItem.Attribute { Kind: FetchAttribute.EmailId }:
                                w.Atom("EMAILID").BeginList().Atom(ObjectIds.EmailId(meta.ContentKey)).EndList(); // RFC 8474 §5.1
                                break;
                            case FetchItem.Attribute { Kind: FetchAttribute.ThreadId }:
                                w.Atom("THREADID").Nil(); // RFC 8474 §5.2: no thread ids are kept
                                break;
                            case var part when fromStream && StreamedSections.Handles(part, view!):
                                streamedAny |= await StreamedSections.WriteAsync(session, w, scratch, part, view!, body!, items, streamedAny, cancellationToken);
                                break;
                            case var whole when body is not null && IsWholeMessage(whole):
                                await StreamWholeMessageAsync(session, w, scratch, whole, body, cancellationToken);
                                break;
                            case FetchItem.BodySection or FetchItem.Binary when view is { HasBody: true }
                                    && FetchDataWriter.TryGetLiteral(item, view, out var name, out var literal, out var literal8)
                                    && literal.Length >= StreamedLiteralBytes:
                                // A big part (an attachment): sent in pieces, never copied whole into a response buffer.
                                // Every BINARY item's encoding is checked first, so NO [UNKNOWN-CTE] can still replace
                                // this message's response before any of it has gone out.
                                if (!streamedAny && FetchDataWriter.FindUnknownTransferEncoding(items, view) is { } unknown)
                                    throw new UnknownTransferEncodingException(unknown);
                                streamedAny = true;
                                await StreamLiteralAsync(session, w, scratch, name, literal, literal8, cancellationToken);
                                break;
                            default:
                                FetchDataWriter.Write(w, item, view!);
                                break;
                        }
                    }
                }
                catch (UnknownTransferEncodingException e)
                {
                    throw new ImapRefusedException(ResponseCode.UnknownTransferEncoding, e.Message);
                }
                if (flagsChanged && !flagsWritten)
                    w.Atom("FLAGS").FlagList(meta.Flags, meta.Keywords, selected.IsRecent(meta.Uid)); // \Seen was just set
                if (wantsModSeq)
                    w.Atom("MODSEQ").BeginList().Number(meta.ModSeq).EndList();
                w.EndList().End();
                session.WriteRaw(scratch.WrittenSpan);
                await session.FlushIfLargeAsync(cancellationToken);
            }
        }
        finally
        {
            if (messages.Count > 0 && mayReadAttachments)
                session.RecordSelectedAccess(attachmentNames is { Count: > 0 } ? MailboxAccessAction.ReadAttachment : MailboxAccessAction.Read,
                    audited, attachmentPath: attachmentNames is { Count: > 0 } ? string.Join(',', attachmentNames) : null);
        }
        if (expungedMeanwhile)
            throw new ImapRefusedException(ResponseCode.ExpungeIssued, "Some messages were expunged meanwhile");
        return ImapCompletion.Ok("FETCH completed");
    }

    /// <summary>
    /// The structure of a big message for this FETCH: from the session's cache, or scanned off <paramref name="body"/> a
    /// segment at a time (<see cref="ImapMessageView.ScanStream"/>) and cached. Null when its header sections are too
    /// big for a structure to keep: the caller reads the message whole, as for a small one.
    /// </summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">A segment of the stored body is damaged.</exception>
    private static ImapMessageView? OpenStructure(ImapSession session, SelectedMailbox selected, MessageMeta meta, Stream body, CancellationToken cancellationToken)
    {
        if (selected.Structures.Get(meta.EntryId) is { } cached)
            return cached;
        try
        {
            var view = ImapMessageView.ScanStream(body, cancellationToken: cancellationToken);
            selected.Structures.Add(meta.EntryId, view);
            session.Logger.FetchStructureScanned(meta.Uid, meta.Size, view.HeldBytes);
            return view;
        }
        catch (MimeStructureTooLargeException e)
        {
            session.Logger.FetchStructureTooLarge(meta.Uid, e.Message);
            return null;
        }
    }

    /// <summary>BODY[] / BODY.PEEK[] (any partial range) and RFC822: the message octets exactly as stored.</summary>
    private static bool IsWholeMessage(FetchItem item) =>
        item is FetchItem.Attribute { Kind: FetchAttribute.Rfc822 }
            or FetchItem.BodySection { Section: { Part.Count: 0, Text: SectionText.None } };

    /// <summary>
    /// Writes a whole-message item as a literal read from <paramref name="body"/>: the response so far and the literal's
    /// announcement go out, then the octets (or the partial range, RFC 9051 §6.4.5: an origin beyond the end gives an
    /// empty string, a short tail what is there) a segment at a time, flushed to the client as the session's buffer
    /// fills. Once the announcement is out the response cannot be taken back: a later failure (a middle segment that no
    /// longer authenticates) closes the connection rather than send octets that are not the message.
    /// </summary>
    private static async Task StreamWholeMessageAsync(ImapSession session, ImapResponseWriter w, ArrayBufferWriter<byte> scratch,
        FetchItem item, Stream body, CancellationToken cancellationToken)
    {
        var partial = item is FetchItem.BodySection section ? section.Partial : null;
        long start = 0, length = body.Length;
        if (partial is not null)
        {
            start = Math.Min(partial.Offset, body.Length);
            length = Math.Min(partial.Length, body.Length - start);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Storage.Blobs.BlobStore.SegmentSize);
        try
        {
            // Before anything is announced: the range's first segment, and the message's last one (which carries the
            // final flag, so a body cut short shows here), are read and authenticated. A damaged message of one
            // segment (most mail) is answered NO [CORRUPTION] and the session goes on.
            if (length > 0 && start + length == body.Length)
            {
                body.Position = body.Length - 1;
                await body.ReadExactlyAsync(buffer.AsMemory(0, 1), cancellationToken);
            }
            body.Position = start;
            var first = length == 0 ? 0 : await body.ReadAtLeastAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)), (int)Math.Min(buffer.Length, length), throwOnEndOfStream: true, cancellationToken);
            w.RawToken(item is FetchItem.BodySection b ? b.ResponseName : "RFC822").LiteralPrefix(length);
            session.WriteRaw(scratch.WrittenSpan);
            scratch.ResetWrittenCount();
            session.WriteRaw(buffer.AsSpan(0, first));
            length -= first;
            try
            {
                while (length > 0)
                {
                    await session.FlushIfLargeAsync(cancellationToken);
                    var read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)), cancellationToken);
                    if (read == 0)
                        throw new EndOfStreamException("The stored message ended before its size.");
                    session.WriteRaw(buffer.AsSpan(0, read));
                    length -= read;
                }
            }
            catch (Exception e) when (e is not (ImapConnectionLostException or OperationCanceledException))
            {
                session.Logger.FetchLiteralBroken(e);
                throw new ImapConnectionLostException(e);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>Literals from this size up (a BODY[2] or BINARY[2] of an attachment) go to the client in pieces.</summary>
    private const int StreamedLiteralBytes = 256 * 1024;

    /// <summary>
    /// Writes the response so far and the announcement of <paramref name="literal"/> to the session, then its octets a
    /// piece at a time, flushed to the client as the session's buffer fills: neither the FETCH scratch buffer nor the
    /// session's output buffer grows to the literal's size (they would keep that size for the session's life).
    /// </summary>
    private static async Task StreamLiteralAsync(ImapSession session, ImapResponseWriter w, ArrayBufferWriter<byte> scratch,
        string responseName, ReadOnlyMemory<byte> literal, bool literal8, CancellationToken cancellationToken)
    {
        w.RawToken(responseName);
        if (literal8)
            w.Literal8Prefix(literal.Length);
        else
            w.LiteralPrefix(literal.Length);
        session.WriteRaw(scratch.WrittenSpan);
        scratch.ResetWrittenCount();
        const int Piece = 64 * 1024;
        for (var offset = 0; offset < literal.Length; offset += Piece)
        {
            await session.FlushIfLargeAsync(cancellationToken);
            session.WriteRaw(literal.Span.Slice(offset, Math.Min(Piece, literal.Length - offset)));
        }
    }

    /// <summary>The part path of a body item that can name an attachment (BODY[2], BODY.PEEK[2], BINARY[2]); null for any other.</summary>
    private static IReadOnlyList<uint>? AttachmentPartOf(FetchItem item) => item switch
    {
        FetchItem.BodySection { Section: { Text: SectionText.None, Part.Count: > 0 } section } => section.Part,
        FetchItem.Binary { Part.Count: > 0 } binary => binary.Part,
        _ => null,
    };
}
