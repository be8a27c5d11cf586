using System.Text;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// The RFC 8601 Authentication-Results header field: built from a verdict, and the removal of any existing
/// field that claims our authserv-id (RFC 8601 §5: a forged claim must not survive into the mailbox).
/// </summary>
public static class AuthenticationResultsHeader
{
    /// <summary>The field name.</summary>
    public const string FieldName = "Authentication-Results";

    /// <summary>
    /// The complete field (name, folded value, final CRLF), one resinfo per method: spf, one dkim per signature
    /// (dkim=none without any), dmarc, arc.
    /// </summary>
    /// <param name="authservId">Our host name (ServerName).</param>
    /// <param name="verdict">The verdicts to report.</param>
    public static string Build(string authservId, SenderAuthenticationVerdict verdict)
    {
        ArgumentException.ThrowIfNullOrEmpty(authservId);
        ArgumentNullException.ThrowIfNull(verdict);
        var results = new List<string>();

        // RFC 8601 §2.7.2: smtp.mailfrom for the MAIL FROM identity, smtp.helo for the HELO identity.
        var spf = verdict.Spf;
        var spfProperty = spf.Identity == SpfIdentity.MailFrom ? $"smtp.mailfrom={Value(spf.Sender)}" : $"smtp.helo={Value(spf.Domain)}";
        results.Add($"spf={spf.Result.ToString().ToLowerInvariant()}{Comment(spf.Problem)} {spfProperty}");

        if (verdict.Dkim.Count == 0)
            results.Add("dkim=none");
        foreach (var d in verdict.Dkim)
        {
            // RFC 6008: header.b carries enough of the signature to tell several from one domain apart.
            var properties = new StringBuilder();
            if (d.Domain.Length > 0)
                properties.Append($" header.d={Value(d.Domain)}");
            if (d.Selector.Length > 0)
                properties.Append($" header.s={Value(d.Selector)}");
            if (d.Algorithm.Length > 0)
                properties.Append($" header.a={Value(d.Algorithm)}");
            if (d.SignaturePrefix.Length > 0)
                properties.Append($" header.b={Value(d.SignaturePrefix)}");
            results.Add($"dkim={d.Result.ToString().ToLowerInvariant()}{Comment(d.Result == DkimResult.Pass ? null : d.Problem)}{properties}");
        }

        var dmarc = verdict.Dmarc;
        var dmarcComment = dmarc.Policy is { } policy
            ? $"p={policy.ToString().ToUpperInvariant()}" + (dmarc.AppliedPolicy is { } applied ? $" dis={applied.ToString().ToUpperInvariant()}" : "")
            : dmarc.Problem;
        results.Add($"dmarc={dmarc.Result.ToString().ToLowerInvariant()}{Comment(dmarcComment)}"
                    + (dmarc.FromDomain is { } from ? $" header.from={Value(from)}" : ""));

        results.Add($"arc={verdict.Arc.ToString().ToLowerInvariant()}");

        var field = new StringBuilder($"{FieldName}: {authservId}");
        foreach (var result in results)
            field.Append(";\r\n\t").Append(result);
        return field.Append("\r\n").ToString();
    }

    /// <summary>
    /// Removes every Authentication-Results field of the header section whose authserv-id equals
    /// <paramref name="authservId"/> (case-insensitive, RFC 8601 §2.5), keeping every other byte as it was.
    /// </summary>
    public static byte[] RemoveClaims(ReadOnlySpan<byte> message, string authservId)
    {
        ArgumentException.ThrowIfNullOrEmpty(authservId);
        var output = new List<byte>(message.Length);
        var position = 0;
        var removed = false;
        while (position < message.Length)
        {
            // One field: its first line and every continuation line (starting with SP or HTAB).
            var end = position;
            while (true)
            {
                var lf = message[end..].IndexOf((byte)'\n');
                end = lf < 0 ? message.Length : end + lf + 1;
                if (end >= message.Length || (message[end] != ' ' && message[end] != '\t'))
                    break;
            }
            var field = message[position..end];
            if (field.SequenceEqual("\r\n"u8) || field.SequenceEqual("\n"u8))
                break; // the empty line ending the header section
            if (ClaimsId(field, authservId))
                removed = true;
            else
                output.AddRange(field);
            position = end;
        }
        if (!removed)
            return message.ToArray();
        output.AddRange(message[position..]);
        return [.. output];
    }

    private static bool ClaimsId(ReadOnlySpan<byte> field, string authservId)
    {
        var colon = field.IndexOf((byte)':');
        if (colon < 0)
            return false;
        var name = Encoding.ASCII.GetString(field[..colon]).Trim();
        if (!name.Equals(FieldName, StringComparison.OrdinalIgnoreCase))
            return false;
        var value = SkipCommentsAndSpace(Encoding.ASCII.GetString(field[(colon + 1)..]));
        var idEnd = value.IndexOfAny([';', ' ', '\t', '\r', '\n', '(']);
        var id = idEnd < 0 ? value : value[..idEnd];
        return id.Equals(authservId, StringComparison.OrdinalIgnoreCase);
    }

    private static string SkipCommentsAndSpace(string value)
    {
        var i = 0;
        while (i < value.Length)
        {
            if (char.IsWhiteSpace(value[i]))
            {
                i++;
                continue;
            }
            if (value[i] != '(')
                break;
            var depth = 0;
            for (; i < value.Length; i++)
            {
                if (value[i] == '\\') { i++; continue; }
                if (value[i] == '(') depth++;
                else if (value[i] == ')' && --depth == 0) { i++; break; }
            }
        }
        return value[i..];
    }

    private static string Comment(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return "";
        var safe = new string(text.Where(c => c is >= ' ' and <= '~' and not '(' and not ')' and not '\\').Take(120).ToArray());
        return safe.Length == 0 ? "" : $" ({safe})";
    }

    /// <summary>
    /// RFC 8601 §2.2 pvalue: an addr-spec or an RFC 2045 token goes as it is; anything else is a quoted-string.
    /// </summary>
    private static string Value(string value)
    {
        const string tspecials = "()<>@,;:\\\"/[]?=";
        var at = value.LastIndexOf('@');
        var isAddrSpec = at > 0 && at < value.Length - 1
            && value[..at].All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~.".Contains(c))
            && value[(at + 1)..].All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-');
        var isToken = value.Length > 0 && value.All(c => c is > ' ' and <= '~' && !tspecials.Contains(c));
        if (isAddrSpec || isToken)
            return value;
        var escaped = new string(value.Where(c => c is >= ' ' and <= '~').ToArray()).Replace("\\", "\\\\").Replace("\"", "\\\"");
        return $"\"{escaped}\"";
    }
}
