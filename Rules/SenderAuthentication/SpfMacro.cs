using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>The values macros expand to during one check_host() call (RFC 7208 §7.2).</summary>
internal sealed record SpfMacroContext(
    string Sender,
    string Domain,
    IPAddress Client,
    string Helo,
    string ReceiverName,
    DateTimeOffset Now,
    Func<CancellationToken, Task<string>> ValidatedDomain);

/// <summary>SPF macro syntax and expansion (RFC 7208 §7).</summary>
internal static class SpfMacro
{
    private const string Delimiters = ".-+,/_=";

    /// <summary>RFC 7208 §7.1 macro-string (explain-string when <paramref name="explanation"/>: SP allowed, c/r/t letters allowed).</summary>
    public static bool IsValidMacroString(string text, bool explanation) => Tokenize(text, explanation) is not null;

    /// <summary>RFC 7208 §7.1 domain-spec = macro-string domain-end.</summary>
    public static bool IsValidDomainSpec(string text)
    {
        if (text.Length == 0)
            return false;
        var tokens = Tokenize(text, explanation: false);
        if (tokens is null)
            return false;
        if (tokens[^1].IsExpand)
            return true; // domain-end = macro-expand
        // domain-end = "." toplabel [ "." ], all inside the trailing literal run.
        var literal = tokens[^1].Text;
        if (literal.EndsWith('.'))
            literal = literal[..^1];
        var dot = literal.LastIndexOf('.');
        return dot >= 0 && IsTopLabel(literal[(dot + 1)..]);
    }

    /// <summary>RFC 7208 §7.1 toplabel: alphanumeric with at least one letter, hyphens inside only.</summary>
    private static bool IsTopLabel(string label) =>
        label.Length is > 0 and <= 63
        && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
        && label[0] != '-' && label[^1] != '-'
        && label.Any(char.IsAsciiLetter);

    private sealed record Token(bool IsExpand, string Text, char Letter = '\0', int Digits = 0, bool Reverse = false, string Split = ".");

    private static List<Token>? Tokenize(string text, bool explanation)
    {
        var tokens = new List<Token>();
        var literal = new StringBuilder();
        void FlushLiteral()
        {
            if (literal.Length > 0)
                tokens.Add(new Token(false, literal.ToString()));
            literal.Clear();
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '%')
            {
                // macro-literal = %x21-24 / %x26-7E; explain-string adds SP.
                if (c is < '!' or > '~' && !(explanation && c == ' '))
                    return null;
                literal.Append(c);
                continue;
            }
            if (i + 1 >= text.Length)
                return null;
            var next = text[++i];
            switch (next)
            {
                case '%': literal.Append('%'); continue;
                case '_': literal.Append(' '); continue;
                case '-': literal.Append("%20"); continue;
                case '{': break;
                default: return null;
            }
            var close = text.IndexOf('}', i);
            if (close < 0)
                return null;
            var body = text[(i + 1)..close];
            i = close;
            if (body.Length == 0)
                return null;
            var letter = body[0];
            var lower = char.ToLowerInvariant(letter);
            if (!"slodiphv".Contains(lower) && !(explanation && "crt".Contains(lower)))
                return null;
            var j = 1;
            while (j < body.Length && char.IsAsciiDigit(body[j]))
                j++;
            var digits = 0;
            if (j > 1)
            {
                // RFC 7208 §7.3: a DIGIT transformer must be nonzero.
                if (!int.TryParse(body[1..j], NumberStyles.None, CultureInfo.InvariantCulture, out digits) || digits == 0)
                    return null;
            }
            var reverse = false;
            if (j < body.Length && (body[j] == 'r' || body[j] == 'R'))
            {
                reverse = true;
                j++;
            }
            var split = body[j..];
            if (!split.All(Delimiters.Contains))
                return null;
            FlushLiteral();
            tokens.Add(new Token(true, body, letter, digits, reverse, split.Length == 0 ? "." : split));
        }
        FlushLiteral();
        return tokens;
    }

    /// <summary>Expands a macro-string (or explain-string) already known to be valid.</summary>
    /// <exception cref="FormatException">The text is not a valid macro-string.</exception>
    public static async Task<string> ExpandAsync(string text, SpfMacroContext context, bool explanation, CancellationToken cancellationToken)
    {
        var tokens = Tokenize(text, explanation) ?? throw new FormatException($"Invalid SPF macro-string '{text}'.");
        var result = new StringBuilder();
        foreach (var token in tokens)
        {
            if (!token.IsExpand)
            {
                result.Append(token.Text);
                continue;
            }
            var value = await ValueOfAsync(char.ToLowerInvariant(token.Letter), context, cancellationToken).ConfigureAwait(false);
            var parts = value.Split(token.Split.ToCharArray());
            if (token.Reverse)
                Array.Reverse(parts);
            if (token.Digits > 0 && token.Digits < parts.Length)
                parts = parts[^token.Digits..];
            var expanded = string.Join('.', parts);
            // RFC 7208 §7.3: an upper-case macro letter means the value is URL-escaped.
            result.Append(char.IsUpper(token.Letter) ? Uri.EscapeDataString(expanded) : expanded);
        }
        return result.ToString();
    }

    private static async Task<string> ValueOfAsync(char letter, SpfMacroContext context, CancellationToken cancellationToken)
    {
        var at = context.Sender.LastIndexOf('@');
        switch (letter)
        {
            case 's': return context.Sender;
            case 'l': return at <= 0 ? "postmaster" : context.Sender[..at];
            case 'o': return at < 0 ? context.Sender : context.Sender[(at + 1)..];
            case 'd': return context.Domain;
            case 'i': return DottedAddress(context.Client);
            case 'p': return await context.ValidatedDomain(cancellationToken).ConfigureAwait(false);
            case 'v': return context.Client.AddressFamily == AddressFamily.InterNetwork ? "in-addr" : "ip6";
            case 'h': return context.Helo;
            case 'c': return context.Client.ToString();
            case 'r': return context.ReceiverName;
            case 't': return context.Now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            default: throw new FormatException($"Unknown SPF macro letter '{letter}'.");
        }
    }

    /// <summary>RFC 7208 §7.3: IPv4 as dotted quad, IPv6 as 32 dot-separated nibbles.</summary>
    private static string DottedAddress(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return address.ToString();
        var bytes = address.GetAddressBytes();
        var nibbles = new List<string>(32);
        foreach (var b in bytes)
        {
            nibbles.Add((b >> 4).ToString("x", CultureInfo.InvariantCulture));
            nibbles.Add((b & 0xF).ToString("x", CultureInfo.InvariantCulture));
        }
        return string.Join('.', nibbles);
    }
}
