using System.Text;
using MailServer.Protocols.Imap.Syntax;
using MimeKit;
using MimeKit.Utils;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// Writes the message-content FETCH data items (RFC 9051 §7.5.2, RFC 3516 §4.2). FLAGS, UID, INTERNALDATE,
/// RFC822.SIZE and MODSEQ come from metadata and are written by the session.
/// </summary>
public static class FetchDataWriter
{
    /// <summary>True when <paramref name="item"/> needs the full message; false when the header section alone
    /// answers it (ENVELOPE, RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT (...)])
    /// or when it is a metadata item this class does not write.</summary>
    public static bool NeedsFullMessage(FetchItem item) => item switch
    {
        FetchItem.Attribute a => a.Kind is FetchAttribute.Rfc822 or FetchAttribute.Rfc822Text or FetchAttribute.Body or FetchAttribute.BodyStructure,
        FetchItem.BodySection b => !(b.Section.Part.Count == 0 &&
                                     b.Section.Text is SectionText.Header or SectionText.HeaderFields or SectionText.HeaderFieldsNot),
        FetchItem.Binary or FetchItem.BinarySize or FetchItem.Preview => true,
        _ => throw new ArgumentOutOfRangeException(nameof(item)),
    };

    /// <summary>True for the items this class writes (the content items); false for FLAGS, UID, INTERNALDATE,
    /// RFC822.SIZE, MODSEQ, SAVEDATE, EMAILID and THREADID, which the session writes from metadata.</summary>
    public static bool IsContentItem(FetchItem item) => item is not FetchItem.Attribute
    {
        Kind: FetchAttribute.Flags or FetchAttribute.Uid or FetchAttribute.InternalDate or FetchAttribute.Rfc822Size or FetchAttribute.ModSeq
            or FetchAttribute.SaveDate or FetchAttribute.EmailId or FetchAttribute.ThreadId,
    };

    /// <summary>Writes one FETCH data item, name and value, as the next tokens of <paramref name="writer"/>.
    /// A section that does not exist is written as NIL; a partial origin beyond the end gives an empty string
    /// (RFC 9051 §6.4.5).</summary>
    /// <exception cref="UnknownTransferEncodingException">BINARY or BINARY.SIZE of a part whose transfer encoding
    /// is unknown: answer <c>NO [UNKNOWN-CTE]</c> and write nothing else for this message (RFC 3516 §4.3).
    /// Call <see cref="Write"/> into a scratch writer, or check BINARY items first, so no half response is sent.</exception>
    /// <exception cref="InvalidOperationException">The item needs the body but <paramref name="message"/> is header-only.</exception>
    /// <exception cref="ArgumentException">The item is a metadata item (see <see cref="IsContentItem"/>), or a
    /// HEADER.FIELDS name holds a character outside printable ASCII (RFC 5322 ftext; no field can have it), which
    /// cannot be echoed on one line: answer BAD.</exception>
    public static void Write(ImapResponseWriter writer, FetchItem item, ImapMessageView message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(message);
        switch (item)
        {
            case FetchItem.Preview:
                // RFC 8970 §3.1: always computed here, so LAZY changes nothing and the answer is never NIL.
                writer.Atom("PREVIEW").String(MessagePreview.Of(message));
                return;
            case FetchItem.Attribute { Kind: FetchAttribute.Envelope }:
                writer.Atom("ENVELOPE");
                WriteEnvelope(writer, message, message.Root);
                break;
            case FetchItem.Attribute { Kind: FetchAttribute.Body }:
                message.RequireBody();
                writer.Atom("BODY");
                WriteBody(writer, message, message.Root, extensible: false, adjacent: false);
                break;
            case FetchItem.Attribute { Kind: FetchAttribute.BodyStructure }:
                message.RequireBody();
                writer.Atom("BODYSTRUCTURE");
                WriteBody(writer, message, message.Root, extensible: true, adjacent: false);
                break;
            case FetchItem.Attribute { Kind: FetchAttribute.Rfc822 }:
                writer.Atom("RFC822");
                WriteContent(writer, message.Section(BodySection.Whole), null);
                break;
            case FetchItem.Attribute { Kind: FetchAttribute.Rfc822Header }:
                writer.Atom("RFC822.HEADER");
                WriteContent(writer, message.Section(new BodySection(ValueList<uint>.Empty, SectionText.Header, ValueList<string>.Empty)), null);
                break;
            case FetchItem.Attribute { Kind: FetchAttribute.Rfc822Text }:
                writer.Atom("RFC822.TEXT");
                WriteContent(writer, message.Section(new BodySection(ValueList<uint>.Empty, SectionText.Text, ValueList<string>.Empty)), null);
                break;
            case FetchItem.BodySection b:
                {
                    var data = message.Section(b.Section);
                    writer.RawToken(b.ResponseName);
                    WriteContent(writer, data, b.Partial);
                    break;
                }
            case FetchItem.Binary b:
                {
                    var data = Binary(message, b.Part);
                    writer.RawToken(b.ResponseName);
                    if (data is null)
                    {
                        writer.Nil();
                        break;
                    }
                    var span = ApplyPartial(data.Value, b.Partial).Span;
                    // RFC 3516 §4.2: literal8 only when the data holds NUL; a plain literal otherwise.
                    if (span.Contains((byte)0))
                    {
                        writer.Literal8(span);
                    }
                    else
                    {
                        writer.Literal(span);
                    }
                    break;
                }
            case FetchItem.BinarySize s:
                {
                    var data = Binary(message, s.Part);
                    writer.RawToken(s.ResponseName);
                    if (data is null)
                    {
                        writer.Nil();
                    }
                    else
                    {
                        writer.Number((ulong)data.Value.Length);
                    }
                    break;
                }
            default:
                throw new ArgumentException($"{item} is written by the session from metadata.", nameof(item));
        }
    }

    /// <summary>Checks the BINARY and BINARY.SIZE items before anything is written for the message: returns the
    /// first unknown Content-Transfer-Encoding they would meet (answer <c>NO [UNKNOWN-CTE]</c>, RFC 3516 §4.3), or
    /// null when every item can be written. Decodes nothing.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="message"/> is header-only and a BINARY item is present.</exception>
    public static string? FindUnknownTransferEncoding(IEnumerable<FetchItem> items, ImapMessageView message)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(message);
        foreach (var item in items)
        {
            IReadOnlyList<uint>? part = item switch
            {
                FetchItem.Binary b => b.Part,
                FetchItem.BinarySize s => s.Part,
                _ => null,
            };
            if (part is null || part.Count == 0)
            {
                continue;
            }
            message.RequireBody();
            if (message.ResolvePart(part) is { } node && message.UnknownEncoding(node) is { } unknown)
            {
                return unknown;
            }
        }
        return null;
    }

    /// <summary>
    /// The literal a BODY[section] or BINARY[part] item answers with, so that the caller can send a big one to the client
    /// in pieces instead of through <see cref="Write"/> (which copies it into the response buffer): the item's response
    /// name, the octets with any partial range applied, and whether they go as a literal8 (BINARY data holding NUL,
    /// RFC 3516 §4.2). False for any other item, and when the answer is NIL or an empty string (write those with
    /// <see cref="Write"/>).
    /// </summary>
    /// <exception cref="UnknownTransferEncodingException">A BINARY part's encoding is unknown.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="message"/> is header-only and the item needs the body.</exception>
    public static bool TryGetLiteral(FetchItem item, ImapMessageView message, out string responseName, out ReadOnlyMemory<byte> data, out bool literal8)
    {
        ArgumentNullException.ThrowIfNull(message);
        (responseName, data, literal8) = ("", default, false);
        switch (item)
        {
            case FetchItem.BodySection b when message.Section(b.Section) is { } section:
                (responseName, data) = (b.ResponseName, ApplyPartial(section, b.Partial));
                break;
            case FetchItem.Binary b when Binary(message, b.Part) is { } decoded:
                (responseName, data) = (b.ResponseName, ApplyPartial(decoded, b.Partial));
                literal8 = data.Span.Contains((byte)0);
                break;
            default:
                return false;
        }
        return !data.IsEmpty;
    }

    /// <summary>The decoded octets of BINARY[part] (RFC 3516 §4.1): the whole message for an empty part path
    /// (it has no transfer encoding of its own), null when the part does not exist.</summary>
    /// <exception cref="UnknownTransferEncodingException">The part's encoding is unknown.</exception>
    public static ReadOnlyMemory<byte>? Binary(ImapMessageView message, IReadOnlyList<uint> part)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.RequireBody();
        if (part.Count == 0)
        {
            return message.Message;
        }
        var node = message.ResolvePart(part);
        if (node is null)
        {
            return null;
        }
        return message.Decode(node);
    }

    private static ReadOnlyMemory<byte> ApplyPartial(ReadOnlyMemory<byte> data, Partial? partial)
    {
        if (partial is null)
        {
            return data;
        }
        // RFC 9051 §6.4.5: an origin beyond the end gives an empty string; a short tail gives what is there.
        if (partial.Offset >= data.Length)
        {
            return ReadOnlyMemory<byte>.Empty;
        }
        var start = (int)partial.Offset;
        var length = (int)Math.Min(partial.Length, data.Length - start);
        return data.Slice(start, length);
    }

    private static void WriteContent(ImapResponseWriter writer, ReadOnlyMemory<byte>? data, Partial? partial)
    {
        if (data is null)
        {
            writer.Nil();
            return;
        }
        var span = ApplyPartial(data.Value, partial).Span;
        if (span.IsEmpty)
        {
            writer.StringBytes(span);
        }
        else
        {
            writer.Literal(span);
        }
    }

    // --- ENVELOPE (RFC 9051 §7.5.2) ---

    private static void WriteEnvelope(ImapResponseWriter writer, ImapMessageView message, MimeNode node)
    {
        var raw = message.Raw;
        writer.BeginList();
        WriteRawField(writer, raw, node.Find("Date"));
        WriteRawField(writer, raw, node.Find("Subject"));
        var from = message.AddressesOf(node, "From");
        WriteAddressList(writer, from);
        // RFC 9051 §7.5.2: absent or empty Sender / Reply-To take the value of From.
        var sender = message.AddressesOf(node, "Sender");
        WriteAddressList(writer, sender is { Count: > 0 } ? sender : from);
        var replyTo = message.AddressesOf(node, "Reply-To");
        WriteAddressList(writer, replyTo is { Count: > 0 } ? replyTo : from);
        WriteAddressList(writer, message.AddressesOf(node, "To"));
        WriteAddressList(writer, message.AddressesOf(node, "Cc"));
        WriteAddressList(writer, message.AddressesOf(node, "Bcc"));
        WriteRawField(writer, raw, node.Find("In-Reply-To"));
        WriteRawField(writer, raw, node.Find("Message-ID"));
        writer.EndList();
    }

    private static void WriteRawField(ImapResponseWriter writer, byte[] raw, HeaderField? field)
    {
        if (field is null)
        {
            writer.Nil();
            return;
        }
        writer.StringBytes(HeaderText.Unfolded(raw, field));
    }

    private static void WriteAddressList(ImapResponseWriter writer, InternetAddressList? list)
    {
        if (list is null || list.Count == 0)
        {
            writer.Nil();
            return;
        }
        writer.BeginList();
        var first = true;
        foreach (var address in list)
        {
            WriteAddress(writer, address, ref first);
        }
        writer.EndList();
    }

    private static void WriteAddress(ImapResponseWriter writer, InternetAddress address, ref bool first)
    {
        switch (address)
        {
            case MailboxAddress mailbox:
                Open(writer, ref first);
                WritePhrase(writer, mailbox.Name);
                if (mailbox.Route.Count > 0)
                {
                    writer.String(string.Join(',', mailbox.Route.Select(d => "@" + d)));
                }
                else
                {
                    writer.Nil();
                }
                writer.String(mailbox.LocalPart);
                // A mailbox without a domain keeps a non-NIL host: NIL there means group syntax.
                writer.String(mailbox.Domain ?? "");
                writer.EndList();
                break;
            case GroupAddress group:
                // RFC 9051 §7.5.2: group start (NIL NIL name NIL), members, group end (NIL NIL NIL NIL).
                Open(writer, ref first);
                writer.Nil().Nil();
                WritePhrase(writer, group.Name, nilWhenEmpty: false);
                writer.Nil().EndList();
                foreach (var member in group.Members)
                {
                    WriteAddress(writer, member, ref first);
                }
                Open(writer, ref first);
                writer.Nil().Nil().Nil().Nil().EndList();
                break;
        }
    }

    private static void Open(ImapResponseWriter writer, ref bool first)
    {
        if (first)
        {
            writer.BeginList();
            first = false;
        }
        else
        {
            writer.BeginAdjacentList();
        }
    }

    /// <summary>A decoded display name: as is when ASCII or UTF-8 is enabled, otherwise re-encoded as RFC 2047 words.</summary>
    private static void WritePhrase(ImapResponseWriter writer, string? phrase, bool nilWhenEmpty = true)
    {
        if (string.IsNullOrEmpty(phrase))
        {
            if (nilWhenEmpty)
            {
                writer.Nil();
            }
            else
            {
                writer.String("");
            }
            return;
        }
        if (writer.Utf8Enabled || Ascii.IsValid(phrase))
        {
            writer.String(phrase);
            return;
        }
        writer.String(Encoding.ASCII.GetString(Rfc2047.EncodePhrase(Encoding.UTF8, phrase)));
    }

    // --- BODY / BODYSTRUCTURE (RFC 9051 §7.5.2, §9 body) ---

    private static void WriteBody(ImapResponseWriter writer, ImapMessageView message, MimeNode node, bool extensible, bool adjacent)
    {
        if (adjacent)
        {
            writer.BeginAdjacentList();
        }
        else
        {
            writer.BeginList();
        }
        var type = node.ContentType;
        if (node.IsMultipart)
        {
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]: the bodies touch.
            for (var i = 0; i < node.Children.Count; i++)
            {
                WriteBody(writer, message, node.Children[i], extensible, adjacent: i > 0);
            }
            writer.String(type.MediaSubtype);
            if (extensible)
            {
                WriteParameters(writer, type);
                WriteExtension(writer, message, node);
            }
            writer.EndList();
            return;
        }
        writer.String(type.MediaType);
        writer.String(type.MediaSubtype);
        WriteParameters(writer, type);
        WriteRawField(writer, message.Raw, node.Find("Content-ID"));
        WriteRawField(writer, message.Raw, node.Find("Content-Description"));
        var cte = node.Find("Content-Transfer-Encoding");
        if (cte is null)
        {
            writer.String("7BIT");
        }
        else
        {
            writer.StringBytes(HeaderText.Unfolded(message.Raw, cte));
        }
        // Size in octets of the body as transferred (still encoded).
        writer.Number((ulong)node.BodyLength);
        if (node.Embedded is not null)
        {
            WriteEnvelope(writer, message, node.Embedded);
            WriteBody(writer, message, node.Embedded, extensible, adjacent: false);
            writer.Number(node.Lines is { } lines ? (ulong)lines : CountLines(message.Raw, node.BodyStart, node.End));
        }
        else if (node.IsText)
        {
            writer.Number(node.Lines is { } lines ? (ulong)lines : CountLines(message.Raw, node.BodyStart, node.End));
        }
        if (extensible)
        {
            WriteRawField(writer, message.Raw, node.Find("Content-MD5"));
            WriteExtension(writer, message, node);
        }
        writer.EndList();
    }

    /// <summary>body-fld-dsp SP body-fld-lang SP body-fld-loc.</summary>
    private static void WriteExtension(ImapResponseWriter writer, ImapMessageView message, MimeNode node)
    {
        var raw = message.Raw;
        var dispositionField = node.Find("Content-Disposition");
        ContentDisposition? disposition = null;
        if (dispositionField is not null)
        {
            var value = HeaderText.Unfolded(raw, dispositionField);
            if (value.Length > HeaderText.MaxParsedValueLength || !ContentDisposition.TryParse(ImapMessageView.StrictOptions, value, out disposition))
            {
                disposition = null;
            }
        }
        if (disposition is null)
        {
            writer.Nil();
        }
        else
        {
            writer.BeginList();
            writer.String(disposition.Disposition);
            WriteParameterList(writer, disposition.Parameters);
            writer.EndList();
        }
        var languageField = node.Find("Content-Language");
        var languages = languageField is null
            ? []
            : Encoding.Latin1.GetString(HeaderText.Unfolded(raw, languageField))
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (languages.Length == 0)
        {
            writer.Nil();
        }
        else
        {
            writer.BeginList();
            foreach (var language in languages)
            {
                writer.String(language);
            }
            writer.EndList();
        }
        WriteRawField(writer, raw, node.Find("Content-Location"));
    }

    private static void WriteParameters(ImapResponseWriter writer, ContentType type) => WriteParameterList(writer, type.Parameters);

    private static void WriteParameterList(ImapResponseWriter writer, ParameterList parameters)
    {
        // body-fld-param = "(" string SP string *(SP string SP string) ")" / nil; RFC 2231 values are shown decoded.
        if (parameters.Count == 0)
        {
            writer.Nil();
            return;
        }
        writer.BeginList();
        foreach (var parameter in parameters)
        {
            writer.String(parameter.Name);
            WritePhraseValue(writer, parameter.Value);
        }
        writer.EndList();
    }

    private static void WritePhraseValue(ImapResponseWriter writer, string value)
    {
        if (writer.Utf8Enabled || Ascii.IsValid(value))
        {
            writer.String(value);
            return;
        }
        writer.String(Encoding.ASCII.GetString(Rfc2047.EncodeText(Encoding.UTF8, value)));
    }

    /// <summary>body-fld-lines: the number of lines of the (encoded) body; a last line without a line break counts.</summary>
    private static ulong CountLines(byte[] raw, int start, int end)
    {
        if (end <= start)
        {
            return 0;
        }
        var span = raw.AsSpan(start, end - start);
        var count = (ulong)span.Count((byte)'\n');
        if (span[^1] != (byte)'\n')
        {
            count++;
        }
        return count;
    }
}
