namespace MailServer.Protocols.Imap.Syntax;

/// <summary>The fetch attributes that take no arguments (RFC 9051 §6.4.5, RFC 7162 MODSEQ).</summary>
public enum FetchAttribute
{
    /// <summary>ENVELOPE.</summary>
    Envelope,
    /// <summary>FLAGS.</summary>
    Flags,
    /// <summary>INTERNALDATE.</summary>
    InternalDate,
    /// <summary>RFC822 (same as BODY[], sets \Seen).</summary>
    Rfc822,
    /// <summary>RFC822.HEADER (same as BODY.PEEK[HEADER]).</summary>
    Rfc822Header,
    /// <summary>RFC822.SIZE.</summary>
    Rfc822Size,
    /// <summary>RFC822.TEXT (same as BODY[TEXT]).</summary>
    Rfc822Text,
    /// <summary>BODY without a section: the non-extensible BODYSTRUCTURE.</summary>
    Body,
    /// <summary>BODYSTRUCTURE.</summary>
    BodyStructure,
    /// <summary>UID.</summary>
    Uid,
    /// <summary>MODSEQ (RFC 7162 §3.1.4).</summary>
    ModSeq,
    /// <summary>SAVEDATE (RFC 8514 §4): when the message was saved into the mailbox.</summary>
    SaveDate,
    /// <summary>EMAILID (RFC 8474 §5.1).</summary>
    EmailId,
    /// <summary>THREADID (RFC 8474 §5.2).</summary>
    ThreadId,
}

/// <summary>The text part of a section specifier (RFC 9051 §9 section-msgtext / section-text).</summary>
public enum SectionText
{
    /// <summary>No text part: the whole part (or message).</summary>
    None,
    /// <summary>HEADER.</summary>
    Header,
    /// <summary>HEADER.FIELDS (list).</summary>
    HeaderFields,
    /// <summary>HEADER.FIELDS.NOT (list).</summary>
    HeaderFieldsNot,
    /// <summary>TEXT.</summary>
    Text,
    /// <summary>MIME (only after a part number).</summary>
    Mime,
}

/// <summary>A section specifier <c>[1.2.HEADER.FIELDS (From To)]</c> (RFC 9051 §6.4.5).</summary>
/// <param name="Part">The part path, empty for the top-level message.</param>
/// <param name="Text">The text specifier.</param>
/// <param name="Fields">The header-list for HEADER.FIELDS[.NOT], upper-cased; empty otherwise.</param>
public sealed record BodySection(ValueList<uint> Part, SectionText Text, ValueList<string> Fields)
{
    /// <summary>The whole message: <c>[]</c>.</summary>
    public static BodySection Whole { get; } = new(ValueList<uint>.Empty, SectionText.None, ValueList<string>.Empty);

    /// <summary>The wire form inside the brackets, as echoed in the FETCH response (RFC 9051 §7.5.2).</summary>
    public override string ToString()
    {
        var parts = Part.Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        switch (Text)
        {
            case SectionText.Header: parts.Add("HEADER"); break;
            case SectionText.Text: parts.Add("TEXT"); break;
            case SectionText.Mime: parts.Add("MIME"); break;
            case SectionText.HeaderFields: parts.Add("HEADER.FIELDS (" + string.Join(' ', Fields.Select(AString)) + ")"); break;
            case SectionText.HeaderFieldsNot: parts.Add("HEADER.FIELDS.NOT (" + string.Join(' ', Fields.Select(AString)) + ")"); break;
        }
        return string.Join('.', parts);
    }

    // header-fld-name = astring (RFC 9051 §9): quote a name that is not all ASTRING-CHARs.
    private static string AString(string name) =>
        name.Length > 0 && name.All(c => c < 0x80 && ImapReader.IsAStringChar((byte)c))
            ? name
            : "\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}

/// <summary>A partial range <c>&lt;offset.length&gt;</c> (RFC 9051 §9 partial).</summary>
public sealed record Partial(long Offset, long Length);

/// <summary>One requested FETCH item.</summary>
public abstract record FetchItem
{
    private FetchItem() { }

    /// <summary>An attribute without arguments.</summary>
    public sealed record Attribute(FetchAttribute Kind) : FetchItem;

    /// <summary>BODY[section]&lt;partial&gt; or BODY.PEEK[...] (which does not set \Seen).</summary>
    public sealed record BodySection(Syntax.BodySection Section, bool Peek, Partial? Partial) : FetchItem
    {
        /// <summary>The name echoed in the FETCH response: <c>BODY[section]</c> plus <c>&lt;origin&gt;</c> for a
        /// partial fetch; never <c>.PEEK</c> (RFC 9051 §7.5.2).</summary>
        public string ResponseName => "BODY[" + Section + "]" + Origin(Partial);
    }

    /// <summary>BINARY[part]&lt;partial&gt; or BINARY.PEEK (RFC 3516 §4.1, RFC 9051 §6.4.5).</summary>
    public sealed record Binary(ValueList<uint> Part, bool Peek, Partial? Partial) : FetchItem
    {
        /// <summary>The name echoed in the FETCH response: <c>BINARY[part]</c> plus <c>&lt;origin&gt;</c> (RFC 9051 §7.5.2).</summary>
        public string ResponseName => "BINARY[" + PartText(Part) + "]" + Origin(Partial);
    }

    /// <summary>PREVIEW, or PREVIEW (LAZY) (RFC 8970 §3): a short plain-text preview of the message.</summary>
    public sealed record Preview(bool Lazy) : FetchItem;

    /// <summary>BINARY.SIZE[part] (RFC 3516 §4.1).</summary>
    public sealed record BinarySize(ValueList<uint> Part) : FetchItem
    {
        /// <summary>The name echoed in the FETCH response.</summary>
        public string ResponseName => "BINARY.SIZE[" + PartText(Part) + "]";
    }

    private static string PartText(ValueList<uint> part) =>
        string.Join('.', part.Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static string Origin(Partial? partial) =>
        partial is null ? "" : "<" + partial.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) + ">";
}
