using System.Text;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Search;

/// <summary>
/// What a folder's search index says about the content keys (BODY, TEXT, HEADER and its FROM / TO / CC / BCC / SUBJECT
/// forms) of one SEARCH, per message: matches, does not match, or cannot tell (then the message is decrypted and tested,
/// so answers are those of the full scan, only faster). Built per SEARCH from the folder's sealed segments, which are
/// decrypted for that SEARCH only; nothing of them outlives it.
/// </summary>
internal sealed class IndexedSearch
{
    private readonly Dictionary<SearchKey, Plan> _plans;
    private readonly uint _indexedThrough;
    private readonly HashSet<uint> _unindexed;

    private IndexedSearch(Dictionary<SearchKey, Plan> plans, uint indexedThrough, HashSet<uint> unindexed)
    {
        _plans = plans;
        _indexedThrough = indexedThrough;
        _unindexed = unindexed;
    }

    /// <summary>A bit per UID: the messages whose terms hold every query term; <see cref="Exact"/> when holding them is
    /// the same as matching.</summary>
    private sealed record Plan(ulong[] Candidates, bool Exact);

    /// <summary>Opens the index of <paramref name="folderId"/> for the content keys of <paramref name="criteria"/>.</summary>
    /// <returns>Null, with the <paramref name="reason"/>, when the index cannot help: none yet, sealed under an older key,
    /// of another format, a segment that does not open, or no key with a letter or digit to look up.</returns>
    public static IndexedSearch? TryOpen(ISearchIndexStore index, string folderId, SearchKey criteria, uint largestUid, out string reason)
    {
        var state = index.ReadSearchIndex(folderId);
        if (state is null)
        {
            reason = "the folder is not indexed yet";
            return null;
        }
        if (!state.Current || state.Format != SearchIndexer.Format)
        {
            reason = "the folder's index is being rebuilt (key rotation or a new index format)";
            return null;
        }
        var keys = new List<(SearchKey Key, List<string> Terms, bool Exact, TermScope[] Scopes)>();
        CollectKeys(criteria, keys);
        if (keys.Count == 0)
        {
            reason = "no BODY, TEXT or header key has a letter or digit to look up";
            return null;
        }
        var readers = new List<IndexSegmentReader>(state.Segments.Count);
        try
        {
            foreach (var segment in state.Segments)
                readers.Add(new IndexSegmentReader(index.OpenSearchSegment(state, segment.SegmentId)));
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or InvalidDataException or KeyNotFoundException)
        {
            reason = $"a segment of the index does not open ({ex.GetType().Name})";
            return null;
        }
        var words = (int)(Math.Min(largestUid, state.IndexedThrough) / 64) + 1;
        var plans = new Dictionary<SearchKey, Plan>(ReferenceEqualityComparer.Instance);
        foreach (var (key, terms, exact, scopes) in keys)
        {
            ulong[]? all = null;
            foreach (var term in terms)
            {
                var bits = new ulong[words];
                var folded = Encoding.UTF8.GetBytes(term);
                foreach (var reader in readers)
                    foreach (var scope in scopes)
                        reader.Collect(scope, folded, uid =>
                        {
                            if (uid / 64 < (uint)bits.Length)
                                bits[uid / 64] |= 1UL << (int)(uid % 64);
                        });
                if (all is null)
                {
                    all = bits;
                }
                else
                {
                    for (var i = 0; i < all.Length; i++)
                        all[i] &= bits[i];
                }
            }
            plans[key] = new Plan(all!, exact);
        }
        reason = "";
        return new IndexedSearch(plans, Math.Min(largestUid, state.IndexedThrough), state.Unindexed.ToHashSet());
    }

    private static void CollectKeys(SearchKey key, List<(SearchKey, List<string>, bool, TermScope[])> into)
    {
        switch (key)
        {
            case SearchKey.Body b when Terms(b.Value, out var exact) is { Count: > 0 } terms:
                into.Add((key, terms, exact, [TermScope.Body]));
                break;
            case SearchKey.Text t when Terms(t.Value, out var exact) is { Count: > 0 } terms:
                into.Add((key, terms, exact, [TermScope.Header, TermScope.Body]));
                break;
            case SearchKey.Header h when h.Value.Length > 0 && Terms(h.Value, out _) is { Count: > 0 } terms:
                // A field's value is in its "Name: value" text, or among the addresses of an address field: candidates only.
                into.Add((key, terms, false, [TermScope.Header, TermScope.Address]));
                break;
            case SearchKey.Not n:
                CollectKeys(n.Key, into);
                break;
            case SearchKey.Or o:
                CollectKeys(o.Left, into);
                CollectKeys(o.Right, into);
                break;
            case SearchKey.And a:
                foreach (var k in a.Keys)
                    CollectKeys(k, into);
                break;
        }
    }

    private static List<string> Terms(string value, out bool exact) => SearchTerms.QueryTerms(value, out exact);

    /// <summary>Whether the message of <paramref name="uid"/> matches the content key <paramref name="key"/> (one of the
    /// criteria's own key objects): true or false when the index knows, null when the message must be read.</summary>
    public bool? Answer(SearchKey key, uint uid)
    {
        if (!_plans.TryGetValue(key, out var plan) || uid > _indexedThrough || _unindexed.Contains(uid))
            return null;
        var candidate = (plan.Candidates[uid / 64] & (1UL << (int)(uid % 64))) != 0;
        if (!candidate)
            return false;
        return plan.Exact ? true : null;
    }
}
