using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// GETMETADATA (RFC 5464 §4.2): <c>* METADATA mailbox (entry value ...)</c> for the entries asked for (a name asked for
/// that has no value comes back NIL) and, with DEPTH 1 / infinity, the entries below them; MAXSIZE leaves out larger
/// values and the tagged OK then says <c>[METADATA LONGENTRIES n]</c> with the largest one left out.
/// </summary>
internal static class GetMetadataHandler
{
    public static Task<ImapCompletion> RunAsync(GetMetadataCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var asked = command.Entries.Select(e => MetadataEntries.Check(e, forSet: false)).Distinct().ToList();
        var scope = MetadataEntries.Resolve(session, command.Mailbox, forSet: false);
        var stored = session.Store.ReadMetadata(scope.MailboxId, scope.FolderId)
            .Where(p => scope.PrivateAllowed || !MetadataEntries.IsPrivate(p.Key)) // another user's private entries are not shown
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var found = new SortedDictionary<string, byte[]?>(StringComparer.Ordinal);
        long longest = 0;
        foreach (var name in asked)
        {
            if (stored.TryGetValue(name, out var exact))
                found[name] = exact;
            else if (name is not ("/private" or "/shared"))
                found[name] = null; // asked for, not set: NIL
            if (command.Depth == MetadataDepth.Zero)
                continue;
            foreach (var (entry, value) in stored)
            {
                if (!entry.StartsWith(name + "/", StringComparison.Ordinal))
                    continue;
                if (command.Depth == MetadataDepth.One && entry.IndexOf('/', name.Length + 1) >= 0)
                    continue;
                found[entry] = value;
            }
        }
        if (command.MaxSize is { } maxSize)
        {
            foreach (var (entry, value) in found.Where(p => p.Value is not null && p.Value.Length > maxSize).ToList())
            {
                longest = Math.Max(longest, value!.Length);
                found.Remove(entry);
            }
        }
        if (found.Count > 0)
        {
            var w = session.Writer.BeginUntagged().Atom("METADATA");
            if (command.Mailbox.Length == 0)
                w.String("");
            else
                w.Mailbox(MailboxNames.FromWire(session, command.Mailbox));
            w.BeginList();
            foreach (var (entry, value) in found)
            {
                w.AString(entry);
                if (value is null)
                    w.Nil();
                else if (value.AsSpan().Contains((byte)0))
                    w.Literal8(value);
                else
                    w.StringBytes(value);
            }
            w.EndList().End();
        }
        return Task.FromResult(longest > 0
            ? new ImapCompletion(new ResponseCode.Metadata("LONGENTRIES", longest), "GETMETADATA completed")
            : ImapCompletion.Ok("GETMETADATA completed"));
    }
}
