using System.Collections;
using System.Text;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// One end of a <see cref="SequenceRange"/>: a non-zero number, or <c>*</c> ("the largest number in use").
/// RFC 9051 §9 <c>seq-number = nz-number / "*"</c>.
/// </summary>
public readonly record struct SequenceNumber
{
    private readonly uint _value; // 0 encodes "*": nz-number never takes the value 0.

    /// <summary>The <c>*</c> marker.</summary>
    public static SequenceNumber Star => default;

    /// <summary>Creates a concrete number.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is 0 (not an nz-number).</exception>
    public SequenceNumber(uint value)
    {
        ArgumentOutOfRangeException.ThrowIfZero(value);
        _value = value;
    }

    /// <summary>True for <c>*</c>.</summary>
    public bool IsStar => _value == 0;

    /// <summary>The number; <paramref name="largest"/> when this is <c>*</c>.</summary>
    public uint Resolve(uint largest) => IsStar ? largest : _value;

    /// <summary>Implicit conversion from a concrete number.</summary>
    public static implicit operator SequenceNumber(uint value) => new(value);

    /// <summary>The wire form: the number or <c>*</c>.</summary>
    public override string ToString() => IsStar ? "*" : _value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// <c>seq-number</c> or <c>seq-range</c> (RFC 9051 §9). A range is unordered: <c>4:2</c> names the same messages
/// as <c>2:4</c>, and <c>559:*</c> includes the largest number even when 559 is above it (RFC 9051 §9, seq-range note).
/// </summary>
public readonly record struct SequenceRange(SequenceNumber First, SequenceNumber Last)
{
    /// <summary>A single number (or <c>*</c>).</summary>
    public static SequenceRange Single(SequenceNumber n) => new(n, n);

    /// <summary>The wire form: <c>n</c> or <c>n:m</c>.</summary>
    public override string ToString() => First == Last ? First.ToString() : $"{First}:{Last}";
}

/// <summary>
/// A parsed, unresolved IMAP <c>sequence-set</c> (RFC 9051 §9), possibly naming the saved search result <c>$</c>
/// (RFC 5182 §2.1). Resolve it against the mailbox with <see cref="Resolve"/>.
/// </summary>
/// <param name="Ranges">The comma-separated members in wire order.</param>
/// <param name="IncludesSavedResult">True when <c>$</c> appeared as a member.</param>
public sealed record SequenceSet(ValueList<SequenceRange> Ranges, bool IncludesSavedResult)
{
    /// <summary>The set consisting of <c>$</c> alone (RFC 5182).</summary>
    public static SequenceSet SavedResult { get; } = new(ValueList<SequenceRange>.Empty, true);

    /// <summary>Creates a set from ranges.</summary>
    public static SequenceSet Of(params SequenceRange[] ranges) => new(ValueList.Of(ranges), false);

    /// <summary>Parses wire text such as <c>1:4,7,9:*</c> or <c>$</c>.</summary>
    /// <exception cref="FormatException">The text is not a sequence-set.</exception>
    public static SequenceSet Parse(string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        var reader = new ImapReader(bytes);
        try
        {
            var set = reader.ReadSequenceSet();
            if (!reader.AtEnd)
            {
                throw new FormatException($"Unexpected text after sequence set: '{text}'.");
            }
            return set;
        }
        catch (ImapSyntaxException e)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <summary>Parses without throwing.</summary>
    public static bool TryParse(string text, out SequenceSet? set)
    {
        try
        {
            set = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            set = null;
            return false;
        }
    }

    /// <summary>True when any member uses <c>*</c>.</summary>
    public bool UsesStar => Ranges.Any(r => r.First.IsStar || r.Last.IsStar);

    /// <summary>The largest concrete number written in the set (0 when none); lets callers reject message
    /// sequence numbers above the mailbox size (RFC 9051 §9, seq-number note).</summary>
    public uint LargestExplicitNumber => Ranges.Count == 0
        ? 0
        : Ranges.Max(r => Math.Max(r.First.Resolve(0), r.Last.Resolve(0)));

    /// <summary>
    /// Replaces <c>*</c> by <paramref name="largest"/> (the message count, or the largest UID in use), orders each range,
    /// merges overlaps, and adds <paramref name="savedResult"/> for <c>$</c>. Numbers above <paramref name="largest"/>
    /// are kept: for UIDs the caller intersects with the UIDs in use; for sequence numbers it decides whether that is
    /// an error. When <paramref name="largest"/> is 0 (empty mailbox), members using <c>*</c> name nothing.
    /// </summary>
    /// <param name="largest">The value <c>*</c> stands for.</param>
    /// <param name="savedResult">The saved search result; null means none has been saved, which RFC 5182 §2.1 treats as empty.</param>
    public ResolvedSequenceSet Resolve(uint largest, ResolvedSequenceSet? savedResult = null)
    {
        var ranges = new List<(uint Start, uint End)>(Ranges.Count + (savedResult?.RangeCount ?? 0));
        foreach (var r in Ranges)
        {
            if (largest == 0 && (r.First.IsStar || r.Last.IsStar))
            {
                continue;
            }
            var a = r.First.Resolve(largest);
            var b = r.Last.Resolve(largest);
            ranges.Add(a <= b ? (a, b) : (b, a));
        }
        if (IncludesSavedResult && savedResult is not null)
        {
            ranges.AddRange(savedResult.Ranges);
        }
        return ResolvedSequenceSet.FromRanges(ranges);
    }

    /// <summary>The wire form.</summary>
    public override string ToString()
    {
        var parts = Ranges.Select(r => r.ToString()).ToList();
        if (IncludesSavedResult)
        {
            parts.Add("$");
        }
        return string.Join(',', parts);
    }
}

/// <summary>
/// A concrete set of numbers held as sorted, disjoint, non-adjacent ranges: membership is a binary search and
/// enumeration is lazy, so sets such as <c>1:4294967295</c> cost a single range.
/// </summary>
public sealed class ResolvedSequenceSet : IEnumerable<uint>, IEquatable<ResolvedSequenceSet>
{
    private readonly (uint Start, uint End)[] _ranges;

    /// <summary>The empty set.</summary>
    public static ResolvedSequenceSet Empty { get; } = new(Array.Empty<(uint, uint)>());

    private ResolvedSequenceSet((uint Start, uint End)[] ranges) => _ranges = ranges;

    /// <summary>Builds a set from any ranges (each Start ≤ End), sorting and merging them.</summary>
    /// <exception cref="ArgumentException">A range has Start greater than End.</exception>
    public static ResolvedSequenceSet FromRanges(IEnumerable<(uint Start, uint End)> ranges)
    {
        var sorted = ranges.ToList();
        // Search results arrive in ascending order already: sort only when they do not (O(n) check first).
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Start < sorted[i - 1].Start)
            {
                sorted.Sort((a, b) => a.Start.CompareTo(b.Start));
                break;
            }
        }
        var merged = new List<(uint Start, uint End)>(sorted.Count);
        foreach (var r in sorted)
        {
            if (r.Start > r.End)
            {
                throw new ArgumentException("Each range must have Start <= End.", nameof(ranges));
            }
            if (merged.Count > 0 && (ulong)r.Start <= (ulong)merged[^1].End + 1)
            {
                var last = merged[^1];
                merged[^1] = (last.Start, Math.Max(last.End, r.End));
            }
            else
            {
                merged.Add(r);
            }
        }
        return merged.Count == 0 ? Empty : new ResolvedSequenceSet(merged.ToArray());
    }

    /// <summary>Builds a set from individual numbers (any order, duplicates allowed), e.g. search results.</summary>
    public static ResolvedSequenceSet FromValues(IEnumerable<uint> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        // Search results and UID lists come in ascending order: merge runs in one pass, allocating only the ranges.
        var ranges = new AscendingRanges();
        foreach (var v in values)
        {
            if (!ranges.TryAdd(v))
            {
                return FromRanges(values.Select(x => (x, x))); // out of order: sort and merge
            }
        }
        return ranges.ToSet();
    }

    /// <summary>Builds a set from numbers in ascending order (duplicates allowed), such as SEARCH hits.</summary>
    /// <exception cref="ArgumentException">A number is smaller than the one before it.</exception>
    public static ResolvedSequenceSet FromAscending(ReadOnlySpan<uint> values)
    {
        var ranges = new AscendingRanges();
        foreach (var v in values)
        {
            if (!ranges.TryAdd(v))
            {
                throw new ArgumentException("The numbers must be in ascending order.", nameof(values));
            }
        }
        return ranges.ToSet();
    }

    /// <summary>Merges ascending numbers into ranges as they come.</summary>
    private struct AscendingRanges
    {
        private List<(uint Start, uint End)>? _ranges;

        public bool TryAdd(uint v)
        {
            _ranges ??= [];
            if (_ranges.Count == 0)
            {
                _ranges.Add((v, v));
                return true;
            }
            var (start, end) = _ranges[^1];
            if (v < start)
            {
                return false;
            }
            if (v <= end)
            {
                return true;
            }
            if (v == end + 1)
            {
                _ranges[^1] = (start, v);
            }
            else
            {
                _ranges.Add((v, v));
            }
            return true;
        }

        public readonly ResolvedSequenceSet ToSet() =>
            _ranges is null || _ranges.Count == 0 ? Empty : new ResolvedSequenceSet(_ranges.ToArray());
    }

    /// <summary>The merged ranges in ascending order.</summary>
    public IReadOnlyList<(uint Start, uint End)> Ranges => _ranges;

    /// <summary>Number of merged ranges.</summary>
    public int RangeCount => _ranges.Length;

    /// <summary>Number of members.</summary>
    public long Count => _ranges.Sum(r => (long)r.End - r.Start + 1);

    /// <summary>True when the set has no members.</summary>
    public bool IsEmpty => _ranges.Length == 0;

    /// <summary>The smallest member.</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public uint Min => IsEmpty ? throw new InvalidOperationException("The set is empty.") : _ranges[0].Start;

    /// <summary>The largest member.</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public uint Max => IsEmpty ? throw new InvalidOperationException("The set is empty.") : _ranges[^1].End;

    /// <summary>Membership test in O(log ranges).</summary>
    public bool Contains(uint value)
    {
        int lo = 0, hi = _ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            var (start, end) = _ranges[mid];
            if (value < start)
            {
                hi = mid - 1;
            }
            else if (value > end)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The members no greater than <paramref name="max"/>.</summary>
    public ResolvedSequenceSet ClipTo(uint max)
    {
        if (IsEmpty || Max <= max)
        {
            return this;
        }
        return FromRanges(_ranges.Where(r => r.Start <= max).Select(r => (r.Start, Math.Min(r.End, max))));
    }

    /// <summary>
    /// Yields the members of <paramref name="sortedValues"/> (ascending, e.g. the UIDs of a mailbox) that are in this
    /// set, walking both in one pass: O(values + ranges).
    /// </summary>
    public IEnumerable<uint> Intersect(IEnumerable<uint> sortedValues)
    {
        var i = 0;
        foreach (var v in sortedValues)
        {
            while (i < _ranges.Length && _ranges[i].End < v)
            {
                i++;
            }
            if (i == _ranges.Length)
            {
                yield break;
            }
            if (v >= _ranges[i].Start)
            {
                yield return v;
            }
        }
    }

    /// <summary>The compact wire form (<c>1:3,7</c>), as used by ESEARCH ALL, APPENDUID and COPYUID.</summary>
    public SequenceSet ToSequenceSet() =>
        new(new ValueList<SequenceRange>(_ranges.Select(r => new SequenceRange(r.Start, r.End))), false);

    /// <inheritdoc />
    public IEnumerator<uint> GetEnumerator()
    {
        foreach (var (start, end) in _ranges)
        {
            for (ulong v = start; v <= end; v++)
            {
                yield return (uint)v;
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public bool Equals(ResolvedSequenceSet? other) => other is not null && _ranges.AsSpan().SequenceEqual(other._ranges);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ResolvedSequenceSet);

    /// <inheritdoc />
    public override int GetHashCode() => _ranges.Length == 0 ? 0 : HashCode.Combine(_ranges.Length, _ranges[0], _ranges[^1]);

    /// <summary>The compact wire form, or the empty string for the empty set.</summary>
    public override string ToString() => ToSequenceSet().ToString();
}
