using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>Flag names on the wire (RFC 9051 §2.3.2) and the store's flags and keywords.</summary>
internal static class ImapFlags
{
    /// <summary>The system flags this server stores, as FLAGS lists them at SELECT.</summary>
    public static readonly string[] System = [@"\Answered", @"\Flagged", @"\Deleted", @"\Seen", @"\Draft"];

    /// <summary>PERMANENTFLAGS for a read-write mailbox: the system flags and any keyword (<c>\*</c>).</summary>
    public static readonly string[] Permanent = [.. System, @"\*"];

    /// <summary>Writes the flag list of a message, <c>(\Seen $Forwarded)</c>, straight to the response: FETCH 1:* FLAGS
    /// on a large folder writes one per message, so no list is built. <paramref name="recent"/> adds \Recent (an
    /// IMAP4rev1 session that holds it, RFC 3501 §2.3.2).</summary>
    public static ImapResponseWriter FlagList(this ImapResponseWriter writer, MessageFlags flags, IReadOnlyList<string> keywords, bool recent = false)
    {
        writer.BeginList();
        if ((flags & MessageFlags.Answered) != 0) writer.Atom(@"\Answered");
        if ((flags & MessageFlags.Flagged) != 0) writer.Atom(@"\Flagged");
        if ((flags & MessageFlags.Deleted) != 0) writer.Atom(@"\Deleted");
        if ((flags & MessageFlags.Seen) != 0) writer.Atom(@"\Seen");
        if ((flags & MessageFlags.Draft) != 0) writer.Atom(@"\Draft");
        for (var i = 0; i < keywords.Count; i++)
            writer.Atom(keywords[i]);
        if (recent) writer.Atom(@"\Recent");
        return writer.EndList();
    }

    /// <summary>
    /// Splits a client flag list into system flags and keywords. <c>\Recent</c> is ignored: it cannot be set by a
    /// client (RFC 3501 §2.3.2) and RFC 9051 dropped it.
    /// </summary>
    /// <exception cref="ImapSyntaxException">An unknown system flag (<c>\Foo</c>) was given, or NIL (not a flag: a client
    /// that means no flags sends "()").</exception>
    public static (MessageFlags Flags, List<string> Keywords) FromWire(IEnumerable<string> names)
    {
        var flags = MessageFlags.None;
        var keywords = new List<string>();
        foreach (var name in names)
        {
            if (name.Equals("NIL", StringComparison.OrdinalIgnoreCase))
                throw new ImapSyntaxException("NIL is not a flag");
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
