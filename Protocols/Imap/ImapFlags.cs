using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>Flag names on the wire (RFC 9051 §2.3.2) and the store's flags and keywords.</summary>
internal static class ImapFlags
{
    /// <summary>The system flags this server stores, as FLAGS lists them at SELECT.</summary>
    public static readonly string[] System = [@"\Answered", @"\Flagged", @"\Deleted", @"\Seen", @"\Draft"];

    /// <summary>PERMANENTFLAGS for a read-write mailbox: the system flags and any keyword (<c>\*</c>).</summary>
    public static readonly string[] Permanent = [.. System, @"\*"];

    /// <summary>The wire flag list of a message.</summary>
    public static List<string> ToWire(MessageFlags flags, IReadOnlyList<string> keywords)
    {
        var list = new List<string>(5 + keywords.Count);
        if (flags.HasFlag(MessageFlags.Answered)) list.Add(@"\Answered");
        if (flags.HasFlag(MessageFlags.Flagged)) list.Add(@"\Flagged");
        if (flags.HasFlag(MessageFlags.Deleted)) list.Add(@"\Deleted");
        if (flags.HasFlag(MessageFlags.Seen)) list.Add(@"\Seen");
        if (flags.HasFlag(MessageFlags.Draft)) list.Add(@"\Draft");
        list.AddRange(keywords);
        return list;
    }

    /// <summary>
    /// Splits a client flag list into system flags and keywords. <c>\Recent</c> is ignored: it cannot be set by a
    /// client (RFC 3501 §2.3.2) and RFC 9051 dropped it.
    /// </summary>
    /// <exception cref="ImapSyntaxException">An unknown system flag (<c>\Foo</c>) was given.</exception>
    public static (MessageFlags Flags, List<string> Keywords) FromWire(IEnumerable<string> names)
    {
        var flags = MessageFlags.None;
        var keywords = new List<string>();
        foreach (var name in names)
        {
            if (!name.StartsWith('\\'))
            {
                if (!keywords.Contains(name, StringComparer.OrdinalIgnoreCase))
                    keywords.Add(name);
                continue;
            }
            flags |= name.ToUpperInvariant() switch
            {
                @"\SEEN" => MessageFlags.Seen,
                @"\ANSWERED" => MessageFlags.Answered,
                @"\FLAGGED" => MessageFlags.Flagged,
                @"\DELETED" => MessageFlags.Deleted,
                @"\DRAFT" => MessageFlags.Draft,
                @"\RECENT" => MessageFlags.None,
                _ => throw new ImapSyntaxException($"Unknown system flag {name}"),
            };
        }
        return (flags, keywords);
    }
}
