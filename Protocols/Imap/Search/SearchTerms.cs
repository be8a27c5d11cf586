namespace MailServer.Protocols.Imap.Search;

/// <summary>
/// How text becomes index terms, and a SEARCH string becomes query terms, such that the index never misses a match of
/// RFC 9051 §6.4.4's case-insensitive substring test (<c>SearchEvaluator.Contains</c>: ordinal, ignoring case).
/// </summary>
/// <remarks>
/// <para>Text is folded character by character to its invariant upper case (what ordinal ignore-case compares; a
/// surrogate, i.e. any character outside the Basic Multilingual Plane, folds to U+FFFD, which over-approximates), then
/// cut into terms: maximal runs of letters and digits of the folded text. Any string of letters and digits found in a
/// text is a substring of one of its terms, so a query term (a run of letters and digits of the folded search string)
/// is a substring of a term of every text that matches.</para>
/// <para>Terms longer than <see cref="ChunkLength"/> are kept as overlapping chunks of that length every
/// <see cref="ChunkStride"/> characters (base64 or hex runs do not blow up the vocabulary); any substring of at most
/// <see cref="MaxQueryTermLength"/> characters of such a term lies inside one chunk. A longer query term is cut to its
/// first <see cref="MaxQueryTermLength"/> characters (still a necessary condition).</para>
/// <para>A search string that is exactly one run of letters and digits (a word or part of one, the common case) is
/// answered exactly by the index: a message matches if and only if one of its terms contains it. Anything else (a
/// phrase, punctuation, characters outside the BMP, a very long word) gives candidates, confirmed by decrypting.</para>
/// </remarks>
internal static class SearchTerms
{
    /// <summary>The longest indexed term; longer runs are chunked.</summary>
    public const int ChunkLength = 128;

    /// <summary>Distance between chunk starts of a long run.</summary>
    public const int ChunkStride = ChunkLength - MaxQueryTermLength;

    /// <summary>The longest query term the chunks guarantee to contain whole.</summary>
    public const int MaxQueryTermLength = 64;

    /// <summary>The folded form of one UTF-16 unit.</summary>
    public static char Fold(char c) => char.IsSurrogate(c) ? '\uFFFD' : char.ToUpperInvariant(c);

    /// <summary>Whether a folded character belongs to a term.</summary>
    public static bool IsTermChar(char folded) => char.IsLetterOrDigit(folded);

    /// <summary>Calls <paramref name="term"/> with each term of <paramref name="text"/> (duplicates included), as a span
    /// of a folded copy in <paramref name="buffer"/> (at least twice <see cref="ChunkLength"/>) that is only valid during
    /// the call.</summary>
    public static void ForEachTerm(string text, char[] buffer, TermAction term)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, ChunkLength * 2);
        // Simple and allocation-light: fold into the buffer run by run.
        var run = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            var folded = i < text.Length ? Fold(text[i]) : ' ';
            if (IsTermChar(folded))
            {
                if (run == buffer.Length)
                {
                    // A run longer than the buffer: emit its chunks so far and keep the last overlap.
                    EmitChunks(buffer.AsSpan(0, run), term, final: false, out var kept);
                    buffer.AsSpan(run - kept, kept).CopyTo(buffer);
                    run = kept;
                }
                buffer[run++] = folded;
                continue;
            }
            if (run > 0)
            {
                EmitChunks(buffer.AsSpan(0, run), term, final: true, out _);
                run = 0;
            }
        }
    }

    /// <summary>Emits a run as itself or as chunks. When <paramref name="final"/> is false the run continues: the chunks
    /// emitted are those that lie wholly in it, and <paramref name="kept"/> is how many trailing characters must stay for
    /// the next ones.</summary>
    private static void EmitChunks(ReadOnlySpan<char> run, TermAction term, bool final, out int kept)
    {
        kept = 0;
        if (final && run.Length <= ChunkLength)
        {
            term(run);
            return;
        }
        var start = 0;
        while (true)
        {
            if (start + ChunkLength >= run.Length)
            {
                if (final)
                {
                    term(run[start..]);
                    return;
                }
                kept = run.Length - start;
                return;
            }
            term(run.Slice(start, ChunkLength));
            start += ChunkStride;
        }
    }

    /// <summary>A term as a span of folded characters.</summary>
    public delegate void TermAction(ReadOnlySpan<char> term);

    /// <summary>
    /// The query terms of a SEARCH string (folded, each at most <see cref="MaxQueryTermLength"/>), and whether the index
    /// answers it exactly (<paramref name="exact"/>: the string is one run of letters and digits, of BMP characters, not
    /// longer than <see cref="MaxQueryTermLength"/>). Empty when the string has no letter or digit: the index cannot help.
    /// </summary>
    public static List<string> QueryTerms(string value, out bool exact)
    {
        ArgumentNullException.ThrowIfNull(value);
        var terms = new List<string>();
        var buffer = new System.Text.StringBuilder();
        var allTermChars = value.Length > 0;
        foreach (var c in value.Append(' '))
        {
            var folded = Fold(c);
            if (IsTermChar(folded))
            {
                buffer.Append(folded);
                continue;
            }
            if (buffer.Length > 0)
            {
                var term = buffer.ToString();
                terms.Add(term.Length > MaxQueryTermLength ? term[..MaxQueryTermLength] : term);
                buffer.Clear();
            }
        }
        foreach (var c in value)
            if (char.IsSurrogate(c) || !IsTermChar(Fold(c)))
                allTermChars = false;
        exact = allTermChars && terms.Count == 1 && value.Length <= MaxQueryTermLength;
        return terms;
    }
}
