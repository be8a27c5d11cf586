using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// PREVIEW (RFC 8970 §3): a short plain-text preview of a message for a client's message list. Taken from the first
/// text/plain part of the message's own body (else the first text/html one, with its markup, style and script
/// removed and entities decoded); quoted lines (<c>&gt;</c>) and the signature after <c>-- </c> are left out;
/// whitespace runs become one space; at most <see cref="MaxLength"/> characters, never a split surrogate pair. A
/// message without text is the empty string. Computed from the stored message on each FETCH (nothing is kept); for a
/// big message from its streamed structure, the text parts read by range (the attachments never read).
/// </summary>
public static partial class MessagePreview
{
    /// <summary>Characters at most: RFC 8970 §3.1 allows 256 and suggests about 200.</summary>
    public const int MaxLength = 200;

    /// <summary>The preview of a message.</summary>
    /// <param name="message">The message's view.</param>
    /// <param name="body">For a streamed view (<see cref="ImapMessageView.IsStreamed"/>), the message's stored stream.</param>
    /// <exception cref="InvalidOperationException">The view is header-only, or streamed without <paramref name="body"/>.</exception>
    public static string Of(ImapMessageView message, Stream? body = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        string? html = null;
        foreach (var (subtype, text) in message.InlineTexts(body))
        {
            if (subtype == "plain")
                return Shorten(PlainLines(text));
            if (subtype == "html")
                html ??= text;
        }
        // The preview is at the start: 64 K characters of markup are plenty and bound the regular expressions' work.
        return html is null ? "" : Shorten(HtmlText(html.Length > 65536 ? html[..65536] : html));
    }

    private static string PlainLines(string text)
    {
        var kept = new StringBuilder(Math.Min(text.Length, 4 * MaxLength));
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed == "-- ")
                break; // RFC 3676 §4.3 signature separator
            if (trimmed.TrimStart().StartsWith('>'))
                continue; // quoted text of the message replied to
            kept.Append(trimmed).Append(' ');
            if (kept.Length > 4 * MaxLength)
                break;
        }
        return kept.ToString();
    }

    private static string HtmlText(string html)
    {
        var text = HiddenElements().Replace(html, " ");
        text = Comments().Replace(text, " ");
        text = Tags().Replace(text, " ");
        return WebUtility.HtmlDecode(text);
    }

    private static string Shorten(string text)
    {
        var result = new StringBuilder(MaxLength);
        var space = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                space = result.Length > 0;
                continue;
            }
            if (space)
            {
                if (result.Length + 1 >= MaxLength)
                    break;
                result.Append(' ');
                space = false;
            }
            if (result.Length >= MaxLength)
                break;
            result.Append(c);
        }
        if (result.Length > 0 && char.IsHighSurrogate(result[^1]))
            result.Length--;
        return result.ToString();
    }

    [GeneratedRegex(@"<(head|style|script|title)\b[^>]*>.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline, matchTimeoutMilliseconds: 1000)]
    private static partial Regex HiddenElements();

    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Comments();

    [GeneratedRegex(@"<[^>]*>", RegexOptions.None, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Tags();
}
