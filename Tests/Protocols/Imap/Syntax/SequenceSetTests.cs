using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

[TestFixture]
public sealed class SequenceSetTests
{
    [TestCase("1", "1")]
    [TestCase("2,4:7,9,12:*", "2,4:7,9,12:*")] // RFC 9051 §9 seq-range example
    [TestCase("*:4,5:7", "*:4,5:7")]
    [TestCase("$", "$")]
    [TestCase("1:3,$", "1:3,$")]
    public void Parses_and_prints_the_wire_form(string wire, string printed)
    {
        Assert.That(SequenceSet.Parse(wire).ToString(), Is.EqualTo(printed));
    }

    [TestCase("")]
    [TestCase("0")]
    [TestCase("1:")]
    [TestCase(",1")]
    [TestCase("1,,2")]
    [TestCase("a")]
    [TestCase("1:0")]
    [TestCase("4294967296")]
    [TestCase("1 2")]
    public void Rejects_malformed_sets(string wire)
    {
        Assert.That(SequenceSet.TryParse(wire, out _), Is.False);
        Assert.Throws<FormatException>(() => SequenceSet.Parse(wire));
    }

    [Test]
    public void Reversed_range_names_the_same_messages()
    {
        Assert.That(SequenceSet.Parse("4:2").Resolve(10), Is.EqualTo(SequenceSet.Parse("2:4").Resolve(10)));
        Assert.That(SequenceSet.Parse("4:2").Resolve(10).ToArray(), Is.EqualTo(new uint[] { 2, 3, 4 }));
    }

    [Test]
    public void Star_is_the_largest_number_and_a_range_past_it_still_includes_it()
    {
        Assert.That(SequenceSet.Parse("*").Resolve(100).ToArray(), Is.EqualTo(new uint[] { 100 }));
        // RFC 9051 §9: "559:*" includes the last UID even when 559 is above it.
        var resolved = SequenceSet.Parse("559:*").Resolve(100);
        Assert.That(resolved.Contains(100), Is.True);
        Assert.That(resolved.Contains(99), Is.False);
        Assert.That(resolved.Min, Is.EqualTo(100u));
        Assert.That(resolved.Max, Is.EqualTo(559u));
    }

    [Test]
    public void Star_in_an_empty_mailbox_names_nothing()
    {
        Assert.That(SequenceSet.Parse("1:*").Resolve(0).IsEmpty, Is.True);
        Assert.That(SequenceSet.Parse("1:*,5").Resolve(0).ToArray(), Is.EqualTo(new uint[] { 5 }));
    }

    [Test]
    public void Overlapping_and_adjacent_members_are_merged()
    {
        var resolved = SequenceSet.Parse("7,1:3,2:5,6,10").Resolve(20);

        Assert.That(resolved.Ranges, Is.EqualTo(new[] { (1u, 7u), (10u, 10u) }));
        Assert.That(resolved.Count, Is.EqualTo(8));
        Assert.That(resolved.ToString(), Is.EqualTo("1:7,10"));
    }

    [Test]
    public void Saved_result_is_added_when_resolving_dollar()
    {
        var saved = ResolvedSequenceSet.FromValues([3, 9, 4]);

        Assert.That(SequenceSet.Parse("$").Resolve(10, saved).ToArray(), Is.EqualTo(new uint[] { 3, 4, 9 }));
        Assert.That(SequenceSet.Parse("1,$").Resolve(10, saved).ToString(), Is.EqualTo("1,3:4,9"));
        Assert.That(SequenceSet.Parse("$").Resolve(10).IsEmpty, Is.True, "no saved result means the empty set (RFC 5182 §2.1)");
    }

    [Test]
    public void Values_in_any_order_merge_into_the_same_ranges()
    {
        Assert.That(ResolvedSequenceSet.FromValues([1, 2, 3, 5, 5, 6, 9]).ToString(), Is.EqualTo("1:3,5:6,9"));
        Assert.That(ResolvedSequenceSet.FromValues([9, 1, 6, 3, 2, 5]).ToString(), Is.EqualTo("1:3,5:6,9"), "out of order");
        Assert.That(ResolvedSequenceSet.FromValues([1, 5, 3]).ToString(), Is.EqualTo("1,3,5"), "late value below the last range");
        Assert.That(ResolvedSequenceSet.FromValues([4294967294, 4294967295]).ToString(), Is.EqualTo("4294967294:4294967295"));
        Assert.That(ResolvedSequenceSet.FromValues([]).IsEmpty, Is.True);
    }

    [Test]
    public void Ascending_search_hits_become_ranges_and_disorder_is_refused()
    {
        Assert.That(ResolvedSequenceSet.FromAscending([2, 3, 4, 4, 8, 10, 11]).ToString(), Is.EqualTo("2:4,8,10:11"));
        Assert.That(ResolvedSequenceSet.FromAscending([1, 4294967295]).ToString(), Is.EqualTo("1,4294967295"));
        Assert.That(() => ResolvedSequenceSet.FromAscending([3, 2]), Throws.ArgumentException);
    }

    [Test]
    public void Contains_and_count_scale_to_large_mailboxes()
    {
        var all = SequenceSet.Parse("1:*").Resolve(150_000);
        Assert.That(all.RangeCount, Is.EqualTo(1));
        Assert.That(all.Count, Is.EqualTo(150_000));
        Assert.That(all.Contains(150_000), Is.True);
        Assert.That(all.Contains(150_001), Is.False);

        // Every odd number: 75,000 separate ranges, membership by binary search.
        var odd = ResolvedSequenceSet.FromValues(Enumerable.Range(0, 75_000).Select(i => (uint)(2 * i + 1)));
        Assert.That(odd.RangeCount, Is.EqualTo(75_000));
        Assert.That(odd.Contains(149_999), Is.True);
        Assert.That(odd.Contains(100_000), Is.False);
        Assert.That(odd.Count, Is.EqualTo(75_000));
    }

    [Test]
    public void Full_uid_range_costs_one_range()
    {
        var everything = SequenceSet.Parse("1:4294967295").Resolve(5);

        Assert.That(everything.Count, Is.EqualTo(4294967295L));
        Assert.That(everything.Contains(uint.MaxValue), Is.True);
        Assert.That(everything.ClipTo(5).ToArray(), Is.EqualTo(new uint[] { 1, 2, 3, 4, 5 }));
    }

    [Test]
    public void Intersect_walks_sorted_uids_once()
    {
        var set = SequenceSet.Parse("2:4,10:*").Resolve(1000);
        uint[] uids = [1, 2, 5, 9, 10, 11, 500, 2000];

        Assert.That(set.Intersect(uids).ToArray(), Is.EqualTo(new uint[] { 2, 10, 11, 500 }));
    }

    [Test]
    public void Largest_explicit_number_lets_callers_reject_sequence_numbers_past_the_end()
    {
        Assert.That(SequenceSet.Parse("1:5,*,9").LargestExplicitNumber, Is.EqualTo(9u));
        Assert.That(SequenceSet.Parse("*").LargestExplicitNumber, Is.EqualTo(0u));
    }
}
