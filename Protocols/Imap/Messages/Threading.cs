using System.Text;
using MailServer.Protocols.Imap.Syntax;
using MimeKit.Utils;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>One node of a THREAD response: a message number (sequence number or UID), or null for a dummy
/// that only groups its children (RFC 5256 §4 "((3)(5))").</summary>
public sealed record ThreadNode(uint? Number, IReadOnlyList<ThreadNode> Children);

/// <summary>RFC 5256 THREAD algorithms and the thread-list output syntax.</summary>
public static class Threading
{
    /// <summary>ORDEREDSUBJECT (RFC 5256 §3).</summary>
    public const string OrderedSubject = "ORDEREDSUBJECT";

    /// <summary>REFERENCES (RFC 5256 §3).</summary>
    public const string References = "REFERENCES";

    /// <summary>The algorithms for the capability list: <c>THREAD=ORDEREDSUBJECT THREAD=REFERENCES</c>.</summary>
    public static IReadOnlyList<string> Algorithms { get; } = [OrderedSubject, References];

    /// <summary>Threads <paramref name="messages"/> (the SEARCH result) with the named algorithm.</summary>
    /// <param name="algorithm">ORDEREDSUBJECT or REFERENCES, any case.</param>
    /// <param name="messages">The matching messages.</param>
    /// <param name="useUid">Number nodes by UID (UID THREAD) instead of sequence number.</param>
    /// <exception cref="ArgumentException">Unknown algorithm: answer BAD (check <see cref="Algorithms"/> first).</exception>
    public static IReadOnlyList<ThreadNode> Thread(string algorithm, IReadOnlyList<SearchContext> messages, bool useUid)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        ArgumentNullException.ThrowIfNull(messages);
        if (algorithm.Equals(OrderedSubject, StringComparison.OrdinalIgnoreCase))
        {
            return ByOrderedSubject(messages, useUid);
        }
        if (algorithm.Equals(References, StringComparison.OrdinalIgnoreCase))
        {
            return ByReferences(messages, useUid);
        }
        throw new ArgumentException($"Unknown THREAD algorithm '{algorithm}'.", nameof(algorithm));
    }

    /// <summary>Writes the thread lists after <c>* THREAD</c>; writes nothing for no threads (RFC 5256 §4:
    /// <c>thread-data = "THREAD" [SP 1*thread-list]</c>).</summary>
    public static void Write(ImapResponseWriter writer, IReadOnlyList<ThreadNode> threads)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var text = Format(threads);
        if (text.Length > 0)
        {
            writer.RawToken(text);
        }
    }

    /// <summary>The thread lists as text, e.g. <c>(2)(3 6 (4 23)(44 7 96))</c>.</summary>
    public static string Format(IReadOnlyList<ThreadNode> threads)
    {
        ArgumentNullException.ThrowIfNull(threads);
        var sb = new StringBuilder();
        foreach (var thread in threads)
        {
            sb.Append('(');
            AppendMembers(sb, thread);
            sb.Append(')');
        }
        return sb.ToString();
    }

    // thread-members = thread-member *(SP thread-member) [SP thread-nested]; thread-nested = 2*thread-list.
    private static void AppendMembers(StringBuilder sb, ThreadNode node)
    {
        var current = node;
        var first = true;
        while (true)
        {
            if (current.Number is uint n)
            {
                if (!first)
                {
                    sb.Append(' ');
                }
                sb.Append(n.ToString(System.Globalization.CultureInfo.InvariantCulture));
                first = false;
            }
            if (current.Children.Count == 1 && current.Number is not null)
            {
                current = current.Children[0];
                continue;
            }
            if (current.Children.Count > 0)
            {
                if (!first)
                {
                    sb.Append(' ');
                }
                foreach (var child in current.Children)
                {
                    sb.Append('(');
                    AppendMembers(sb, child);
                    sb.Append(')');
                }
            }
            return;
        }
    }

    /// <summary>ORDEREDSUBJECT: messages grouped by base subject; each thread is its earliest message with the others
    /// as its children in sent-date order; threads ordered by their first message's sent date (RFC 5256 §3).</summary>
    public static IReadOnlyList<ThreadNode> ByOrderedSubject(IReadOnlyList<SearchContext> messages, bool useUid)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var entries = messages.Select(m =>
        {
            var view = m.Headers();
            return (Message: m, Subject: SortKeys.BaseSubject(view.GetHeader("Subject") ?? "", out _), Date: SortKeys.SentDate(m, view));
        }).ToList();
        var groups = entries
            .GroupBy(e => e.Subject.ToUpperInvariant(), StringComparer.Ordinal)
            .Select(g => g.OrderBy(e => e.Date).ThenBy(e => e.Message.SequenceNumber).ToList())
            .OrderBy(g => g[0].Date).ThenBy(g => g[0].Message.SequenceNumber);
        var result = new List<ThreadNode>();
        foreach (var group in groups)
        {
            var children = group.Skip(1).Select(e => new ThreadNode(NumberOf(e.Message, useUid), [])).ToList();
            result.Add(new ThreadNode(NumberOf(group[0].Message, useUid), children));
        }
        return result;
    }

    private static uint NumberOf(SearchContext message, bool useUid) => useUid ? message.Uid : message.SequenceNumber;

    private sealed class Container
    {
        public SearchContext? Message;
        public Container? Parent;
        public readonly List<Container> Children = [];
        public DateTimeOffset Date;
        public string Subject = "";
        public bool IsReply;

        public bool IsDummy => Message is null;

        public bool IsAncestorOf(Container other)
        {
            for (var p = other; p is not null; p = p.Parent)
            {
                if (p == this)
                {
                    return true;
                }
            }
            return false;
        }

        public void Unlink()
        {
            Parent?.Children.Remove(this);
            Parent = null;
        }

        public void AddChild(Container child)
        {
            child.Unlink();
            child.Parent = this;
            Children.Add(child);
        }
    }

    /// <summary>REFERENCES (RFC 5256 §3, after JWZ): parent/child links from References / In-Reply-To, dummies pruned,
    /// then root threads with the same base subject merged; siblings and threads in sent-date order.</summary>
    public static IReadOnlyList<ThreadNode> ByReferences(IReadOnlyList<SearchContext> messages, bool useUid)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var ids = new Dictionary<string, Container>(StringComparer.Ordinal);
        var unique = 0;
        foreach (var message in messages.OrderBy(m => m.SequenceNumber))
        {
            var view = message.Headers();
            // (1) The message's own container; a missing or duplicate Message-ID gets a unique one.
            var messageId = FirstId(view.GetHeader("Message-ID"));
            if (messageId is null || (ids.TryGetValue(messageId, out var existing) && existing.Message is not null))
            {
                messageId = "\0unique-" + unique++;
            }
            if (!ids.TryGetValue(messageId, out var container))
            {
                container = new Container();
                ids[messageId] = container;
            }
            container.Message = message;
            container.Date = SortKeys.SentDate(message, view);
            container.Subject = SortKeys.BaseSubject(view.GetHeader("Subject") ?? "", out container.IsReply);

            // References, or else the first id of In-Reply-To.
            var references = AllIds(view.GetHeader("References"));
            if (references.Count == 0 && FirstId(view.GetHeader("In-Reply-To")) is string inReplyTo)
            {
                references.Add(inReplyTo);
            }
            // (1A) Link each reference to the next, never overriding an existing link nor creating a loop.
            Container? previous = null;
            foreach (var reference in references)
            {
                if (!ids.TryGetValue(reference, out var refContainer))
                {
                    refContainer = new Container();
                    ids[reference] = refContainer;
                }
                if (previous is not null && refContainer.Parent is null && previous != refContainer && !refContainer.IsAncestorOf(previous))
                {
                    previous.AddChild(refContainer);
                }
                previous = refContainer;
            }
            // (1B) The message's parent is its last reference (replacing any earlier link), or none when it has no
            // reference; a link that would make a loop (the last reference is the message itself or one of its
            // descendants) is not made, and the message keeps the parent it has.
            if (previous is null)
            {
                container.Unlink();
            }
            else if (previous != container && !container.IsAncestorOf(previous))
            {
                previous.AddChild(container);
            }
        }

        // (2) root set; (3) the id table is no longer needed.
        var roots = ids.Values.Where(c => c.Parent is null).ToList();
        // (4) prune dummies.
        roots = Prune(roots, isRoot: true);
        foreach (var root in roots)
        {
            root.Parent = null;
        }
        // (5) sort.
        SortTree(roots);
        // (6) merge root threads by base subject.
        roots = MergeBySubject(roots);
        // (7) sort again: merging changed children.
        SortTree(roots);
        return roots.Select(c => ToNode(c, useUid)).ToList();
    }

    private static List<Container> Prune(List<Container> siblings, bool isRoot)
    {
        var result = new List<Container>();
        foreach (var container in siblings)
        {
            var children = Prune([.. container.Children], isRoot: false);
            container.Children.Clear();
            foreach (var child in children)
            {
                child.Parent = container;
                container.Children.Add(child);
            }
            if (!container.IsDummy)
            {
                result.Add(container);
            }
            else if (container.Children.Count == 0)
            {
                // (4A) an empty dummy goes.
            }
            else if (!isRoot || container.Children.Count == 1)
            {
                // (4B) promote the children, but never several to the root level.
                foreach (var child in container.Children)
                {
                    child.Parent = container.Parent;
                    result.Add(child);
                }
                container.Children.Clear();
            }
            else
            {
                result.Add(container);
            }
        }
        return result;
    }

    private static List<Container> MergeBySubject(List<Container> roots)
    {
        static Container? Carrier(Container c) => c.IsDummy ? c.Children.FirstOrDefault() : c;

        // (6A) subject table: prefer a dummy, then a non-reply.
        var table = new Dictionary<string, Container>(StringComparer.Ordinal);
        foreach (var root in roots)
        {
            var carrier = Carrier(root);
            if (carrier is null || carrier.Subject.Length == 0)
            {
                continue;
            }
            var key = carrier.Subject.ToUpperInvariant();
            if (!table.TryGetValue(key, out var old) ||
                (!old.IsDummy && root.IsDummy) ||
                (!old.IsDummy && !root.IsDummy && old.IsReply && !root.IsReply))
            {
                table[key] = root;
            }
        }
        // (6B) merge every other root with the table's container. The root set is a set: step (7) sorts it.
        var live = new HashSet<Container>(roots);
        foreach (var root in roots)
        {
            var carrier = Carrier(root);
            if (carrier is null || carrier.Subject.Length == 0 || !live.Contains(root))
            {
                continue;
            }
            var key = carrier.Subject.ToUpperInvariant();
            var that = table[key];
            if (that == root)
            {
                continue;
            }
            if (that.IsDummy && root.IsDummy)
            {
                foreach (var child in root.Children.ToList())
                {
                    that.AddChild(child);
                }
                live.Remove(root);
            }
            else if (that.IsDummy)
            {
                that.AddChild(root);
                live.Remove(root);
            }
            else if (root.IsDummy)
            {
                root.AddChild(that);
                live.Remove(that);
                table[key] = root;
            }
            else if (!that.IsReply && root.IsReply)
            {
                that.AddChild(root);
                live.Remove(root);
            }
            else if (that.IsReply && !root.IsReply)
            {
                root.AddChild(that);
                live.Remove(that);
                table[key] = root;
            }
            else
            {
                // Neither or both are replies: a new dummy holds both, in place of that.
                var dummy = new Container();
                live.Remove(that);
                live.Remove(root);
                dummy.AddChild(that);
                dummy.AddChild(root);
                live.Add(dummy);
                table[key] = dummy;
            }
        }
        return [.. live];
    }

    private static void SortTree(List<Container> siblings)
    {
        foreach (var container in siblings)
        {
            SortTree(container.Children);
        }
        siblings.Sort(CompareByDate);
    }

    // Sent date, then mailbox order; a dummy sorts as its first child (RFC 5256 §3 REFERENCES (5), (7)).
    private static int CompareByDate(Container a, Container b)
    {
        var x = a.IsDummy ? a.Children.FirstOrDefault() ?? a : a;
        var y = b.IsDummy ? b.Children.FirstOrDefault() ?? b : b;
        var c = x.Date.CompareTo(y.Date);
        if (c != 0)
        {
            return c;
        }
        return (x.Message?.SequenceNumber ?? 0).CompareTo(y.Message?.SequenceNumber ?? 0);
    }

    private static ThreadNode ToNode(Container container, bool useUid) =>
        new(container.Message is null ? null : NumberOf(container.Message, useUid),
            container.Children.Select(c => ToNode(c, useUid)).ToList());

    private static string? FirstId(string? header)
    {
        if (string.IsNullOrEmpty(header))
        {
            return null;
        }
        return MimeUtils.EnumerateReferences(header).FirstOrDefault();
    }

    private static List<string> AllIds(string? header) =>
        string.IsNullOrEmpty(header) ? [] : MimeUtils.EnumerateReferences(header).ToList();
}
