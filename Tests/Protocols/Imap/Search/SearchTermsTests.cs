using MailServer.Protocols.Imap.Search;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Search;

/// <summary>
/// The index may only answer a one-word SEARCH alone if its folding is the equality SEARCH uses (ordinal, ignoring
/// case): checked here for every character of the Basic Multilingual Plane, and the chunking of long runs.
/// </summary>
[TestFixture]
public sealed class SearchTermsTests
{
    [Test]
    public void Folding_agrees_with_ordinal_ignore_case_for_every_bmp_character()
    {
        var disagreements = new List<string>();
        for (var i = 0; i <= char.MaxValue; i++)
        {
            var c = (char)i;
            if (char.IsSurrogate(c))
                continue;
            var folded = SearchTerms.Fold(c);
            // A character equals its folded form, and its lower and upper case forms fold alike when they equal it.
            if (!string.Equals(c.ToString(), folded.ToString(), StringComparison.OrdinalIgnoreCase))
                disagreements.Add($"U+{i:X4} is not equal to its fold");
            foreach (var other in new[] { char.ToLowerInvariant(c), char.ToUpperInvariant(c), char.ToLowerInvariant(folded) })
                if (string.Equals(c.ToString(), other.ToString(), StringComparison.OrdinalIgnoreCase) != (SearchTerms.Fold(other) == folded))
                    disagreements.Add($"U+{i:X4} and U+{(int)other:X4}");
            if (SearchTerms.IsTermChar(folded) != SearchTerms.IsTermChar(SearchTerms.Fold(char.ToLowerInvariant(c))) &&
                string.Equals(c.ToString(), char.ToLowerInvariant(c).ToString(), StringComparison.OrdinalIgnoreCase))
                disagreements.Add($"U+{i:X4} term class");
        }
        Assert.That(disagreements, Is.Empty);
    }

    [Test]
    public void A_long_run_is_kept_as_overlapping_chunks_that_hold_every_substring_of_a_query_term()
    {
        var run = string.Concat(Enumerable.Range(0, 700).Select(i => (char)('a' + i % 26))) + "Q" + new string('z', 5000);
        var terms = new List<string>();
        SearchTerms.ForEachTerm("x " + run + " y", new char[1024], t => terms.Add(t.ToString()));
        var upper = run.ToUpperInvariant();
        Assert.That(terms, Does.Contain("X").And.Contain("Y"));
        Assert.That(terms.Where(t => t.Length > 1), Has.All.Length.LessThanOrEqualTo(SearchTerms.ChunkLength));
        for (var start = 0; start + SearchTerms.MaxQueryTermLength <= upper.Length; start += 37)
        {
            var needle = upper.Substring(start, SearchTerms.MaxQueryTermLength);
            Assert.That(terms.Any(t => t.Contains(needle, StringComparison.Ordinal)), $"substring at {start}");
        }
        Assert.That(SearchTerms.QueryTerms("Zephyr", out var exact), Is.EqualTo(new[] { "ZEPHYR" }));
        Assert.That(exact, Is.True);
        Assert.That(SearchTerms.QueryTerms("usual-place", out exact), Is.EqualTo(new[] { "USUAL", "PLACE" }));
        Assert.That(exact, Is.False);
        Assert.That(SearchTerms.QueryTerms(" , ", out _), Is.Empty);
    }
}
