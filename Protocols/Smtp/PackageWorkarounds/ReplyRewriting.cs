using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>The part of the reply table that mends SmtpServer's own fixed replies (see README.md in this folder).</summary>
internal static partial class SmtpReplies
{
    /// <summary>
    /// RFC 2034 §3: once ENHANCEDSTATUSCODES is advertised, every 2xx/4xx/5xx reply (except the greeting and
    /// the EHLO/HELO reply) carries an enhanced code. SmtpServer's own fixed replies ("250 Ok", "221 bye",
    /// "220 ready when you are", "502 Unrecognized command", "501 expected ...") do not, so the connection
    /// guard passes every outgoing line through here. Lines that already carry a code are left alone.
    /// SmtpServer also appends ", N retry(ies) remaining." to every reply it sends for a refused command (its
    /// count of consecutive errors before it drops the session); that is our bookkeeping, not the client's
    /// business, so it is taken off here too; and its out-of-sequence reply becomes the RFC's 503.
    /// </summary>
    /// <returns>The line (without CRLF) with an enhanced code inserted, or the line unchanged.</returns>
    public static string WithEnhancedCode(string line)
    {
        line = RetryCountSuffix().Replace(line, ".");
        // SmtpServer answers a command out of sequence with "501 expected MAIL/...": RFC 5321 §4.3.2 and
        // §4.2.4 make that 503, bad sequence of commands.
        if (line.StartsWith("501 expected ", StringComparison.Ordinal))
            return $"503 5.5.1 Bad sequence of commands, {line[4..]}";
        // RFC 4954 §6: SmtpServer's own AUTH replies, with their enhanced codes and without its attempt counter.
        if (line.StartsWith("535 authentication failed", StringComparison.OrdinalIgnoreCase))
            return "535 5.7.8 Authentication credentials invalid";
        if (line.StartsWith("235 ", StringComparison.Ordinal) && !HasEnhancedCode(line[4..]))
            return "235 2.7.0 Authentication successful";
        if (line.Length < 4 || !char.IsAsciiDigit(line[0]) || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2])
            || (line[3] != ' ' && line[3] != '-') || line[0] is not ('2' or '4' or '5'))
            return line;
        var text = line[4..];
        if (HasEnhancedCode(text))
            return line;
        var code = line[..3] switch
        {
            "500" => "5.5.2", // syntax error, command unrecognised
            "501" => "5.5.4", // invalid arguments (SmtpServer also uses it for bad sequence)
            "502" => "5.5.1", // invalid command
            "503" => "5.5.1",
            "421" => "4.3.0",
            _ => $"{line[0]}.0.0",
        };
        return $"{line[..4]}{code} {text}";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@", \d+ retry\(ies\) remaining\.$")]
    private static partial System.Text.RegularExpressions.Regex RetryCountSuffix();

    private static bool HasEnhancedCode(string text)
    {
        // class "." subject "." detail, RFC 3463 §2: 1 digit, 1-3 digits, 1-3 digits, then a space or the end.
        var space = text.IndexOf(' ');
        var token = space < 0 ? text : text[..space];
        var parts = token.Split('.');
        return parts.Length == 3 && parts[0] is "2" or "4" or "5"
            && parts.Skip(1).All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit));
    }

}
