namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// Bounds applied while framing and parsing client commands, so that no command makes the server buffer or recurse
/// without limit. Exceeding one yields a typed <see cref="ImapFramingError"/> (framer) or a BAD (parser).
/// </summary>
public sealed record ImapSyntaxLimits
{
    /// <summary>The defaults: 8 KiB lines (RFC 7162 §4 recommends accepting at least 8192 octets), 40 MiB literals
    /// (the message size limit of docs/decisions.md, "Limits"), LITERAL- non-synchronising literals of 4096 octets (RFC 7888 §4).</summary>
    public static ImapSyntaxLimits Default { get; } = new();

    /// <summary>Longest line (text between literals, CRLF included) accepted.</summary>
    public int MaxLineLength { get; init; } = 8 * 1024;

    /// <summary>Largest literal accepted; advertise it as APPENDLIMIT (RFC 7889).</summary>
    public long MaxLiteralSize { get; init; } = 40L * 1024 * 1024;

    /// <summary>Largest non-synchronising literal (<c>{n+}</c>): 4096 for LITERAL- (RFC 7888 §4), or null for
    /// LITERAL+ (then <see cref="MaxLiteralSize"/> alone applies).</summary>
    public long? MaxNonSynchronizingLiteralSize { get; init; } = 4096;

    /// <summary>Deepest nesting of parentheses in a command, and of SEARCH keys (NOT/OR chains) in the parser.</summary>
    public int MaxNestingDepth { get; init; } = 32;

    /// <summary>Deepest recursion of SEARCH keys (NOT / OR chains need no parentheses, e.g. <c>OR OR OR a b c d</c>).</summary>
    public int MaxSearchDepth { get; init; } = 256;

    /// <summary>Most literals in one command (MULTIAPPEND sends one per message, RFC 3502).</summary>
    public int MaxLiteralsPerCommand { get; init; } = 64;

    /// <summary>Most bytes (lines and literals) in one command.</summary>
    public long MaxCommandSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>Checks that the values are usable together.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is not positive, or the command bound is below a single literal or line.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLineLength, 64, nameof(MaxLineLength));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxLiteralSize, nameof(MaxLiteralSize));
        if (MaxNonSynchronizingLiteralSize is { } nonSync)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(nonSync, nameof(MaxNonSynchronizingLiteralSize));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNestingDepth, 1, nameof(MaxNestingDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSearchDepth, 1, nameof(MaxSearchDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLiteralsPerCommand, 1, nameof(MaxLiteralsPerCommand));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCommandSize, MaxLiteralSize + MaxLineLength, nameof(MaxCommandSize));
        if (MaxLiteralSize > Array.MaxLength || MaxCommandSize > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxCommandSize), "A command must fit in one array.");
        }
    }
}
