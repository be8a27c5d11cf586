using System.Text;
using MailServer.Protocols.Imap.Syntax;
using MimeKit;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>RFC 5256 SORT (and RFC 5957 DISPLAYFROM / DISPLAYTO) over messages, plus the base-subject rules it
/// shares with THREAD.</summary>
public static class SortKeys
{
    /// <summary>Sorts <paramref name="messages"/> by the criteria; ties (and equal keys throughout) fall back to
    /// sequence number order (RFC 5256 §3). Header views are read once per message, only when a criterion needs them.</summary>
    public static IReadOnlyList<SearchContext> Sort(IEnumerable<SearchContext> messages, IReadOnlyList<SortCriterion> criteria)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(criteria);
        var needsHeaders = criteria.Any(c => c.Key is not (SortKey.Arrival or SortKey.Size));
        var entries = messages.Select(m =>
        {
            var view = needsHeaders ? m.Headers() : null;
            var keys = new object[criteria.Count];
            for (var i = 0; i < criteria.Count; i++)
            {
                keys[i] = KeyOf(criteria[i].Key, m, view);
            }
            return (Message: m, Keys: keys);
        }).ToList();
        entries.Sort((a, b) =>
        {
            for (var i = 0; i < criteria.Count; i++)
            {
                var c = CompareKey(a.Keys[i], b.Keys[i]);
                if (c != 0)
                {
                    return criteria[i].Reverse ? -c : c;
                }
            }
            return a.Message.SequenceNumber.CompareTo(b.Message.SequenceNumber);
        });
        return entries.Select(e => e.Message).ToList();
    }

    private static object KeyOf(SortKey key, SearchContext message, ImapMessageView? view) => key switch
    {
        SortKey.Arrival => message.InternalDate.UtcTicks,
        SortKey.Size => message.Size,
        SortKey.Date => SentDate(message, view!).UtcTicks,
        SortKey.Subject => BaseSubject(view!.GetHeader("Subject") ?? "", out _),
        SortKey.From => FirstMailbox(view!, "From"),
        SortKey.To => FirstMailbox(view!, "To"),
        SortKey.Cc => FirstMailbox(view!, "Cc"),
        SortKey.DisplayFrom => DisplayName(view!, "From"),
        SortKey.DisplayTo => DisplayName(view!, "To"),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    private static int CompareKey(object a, object b) => (a, b) switch
    {
        (long x, long y) => x.CompareTo(y),
        (string x, string y) => CompareAsciiCaseMap(x, y),
        _ => throw new InvalidOperationException("Mismatched sort keys."),
    };

    /// <summary>The date used by SORT DATE and THREAD: the Date: header, or the internal date when it is missing or
    /// unparseable (RFC 5256 §2.2).</summary>
    public static DateTimeOffset SentDate(SearchContext message, ImapMessageView headers)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(headers);
        return headers.SentDate ?? message.InternalDate;
    }

    /// <summary>i;ascii-casemap (RFC 4790 §9.2): ASCII letters fold to upper case, then octet order.</summary>
    public static int CompareAsciiCaseMap(string a, string b)
    {
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++)
        {
            var x = a[i] is >= 'a' and <= 'z' ? (char)(a[i] - 32) : a[i];
            var y = b[i] is >= 'a' and <= 'z' ? (char)(b[i] - 32) : b[i];
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }
        return a.Length.CompareTo(b.Length);
    }

    // RFC 5256 §3 FROM/TO/CC: the addr-mailbox of the first address of the ENVELOPE; empty when none. A group comes
    // first in the ENVELOPE as its start marker, whose addr-mailbox is the group name (RFC 9051 §7.5.2).
    private static string FirstMailbox(ImapMessageView view, string field) =>
        view.GetAddresses(field).FirstOrDefault() switch
        {
            MimeKit.GroupAddress group => group.Name ?? "",
            MimeKit.MailboxAddress mailbox => mailbox.LocalPart ?? "",
            _ => "",
        };

    // RFC 5957 §3: the display name of the first address, or its addr-spec when the name is empty.
    private static string DisplayName(ImapMessageView view, string field)
    {
        var first = view.GetAddresses(field).Mailboxes.FirstOrDefault();
        if (first is null)
        {
            return "";
        }
        return string.IsNullOrWhiteSpace(first.Name) ? first.Address : first.Name;
    }

    /// <summary>RFC 5256 §2.1 base subject: decoded, whitespace collapsed, trailing "(fwd)", leading "Re:",
    /// "Fw:", "Fwd:" (with optional [blob]s), leading [blob]s and the "[fwd: ...]" wrapper removed.</summary>
    /// <param name="subject">The subject with encoded words already decoded.</param>
    /// <param name="isReplyOrForward">True when any reply/forward marker was removed (used by THREAD REFERENCES).</param>
    public static string BaseSubject(string subject, out bool isReplyOrForward)
    {
        ArgumentNullException.ThrowIfNull(subject);
        isReplyOrForward = false;
        // (1) tabs and line breaks to SP, runs of WSP to one SP.
        var collapsed = new StringBuilder(subject.Length);
        foreach (var c in subject)
        {
            var ch = c is '\t' or '\r' or '\n' ? ' ' : c;
            if (ch == ' ' && collapsed.Length > 0 && collapsed[^1] == ' ')
            {
                continue;
            }
            collapsed.Append(ch);
        }
        var s = collapsed.ToString();
        while (true)
        {
            // (2) subj-trailer = "(fwd)" / WSP, repeatedly from the end.
            while (true)
            {
                var trimmed = s.TrimEnd(' ');
                if (trimmed.EndsWith("(fwd)", StringComparison.OrdinalIgnoreCase))
                {
                    s = trimmed[..^5];
                    isReplyOrForward = true;
                    continue;
                }
                s = trimmed;
                break;
            }
            bool changed;
            do
            {
                changed = false;
                // (3) subj-leader = (*subj-blob subj-refwd) / WSP, repeatedly.
                while (true)
                {
                    if (s.StartsWith(' '))
                    {
                        s = s[1..];
                        changed = true;
                        continue;
                    }
                    var pos = 0;
                    while (MatchBlob(s, pos) is int afterBlob)
                    {
                        pos = afterBlob;
                    }
                    if (MatchRefwd(s, pos) is int afterRefwd)
                    {
                        s = s[afterRefwd..];
                        isReplyOrForward = true;
                        changed = true;
                        continue;
                    }
                    break;
                }
                // (4) a leading subj-blob goes when something non-blank remains.
                if (MatchBlob(s, 0) is int end && s[end..].Trim(' ').Length > 0)
                {
                    s = s[end..];
                    changed = true;
                }
            }
            while (changed); // (5)
            // (6) "[fwd:" ... "]" wrapper: unwrap and start again from (2).
            if (s.StartsWith("[fwd:", StringComparison.OrdinalIgnoreCase) && s.EndsWith(']'))
            {
                s = s[5..^1];
                isReplyOrForward = true;
                continue;
            }
            return s;
        }
    }

    // subj-blob = "[" *BLOBCHAR "]" *WSP ; BLOBCHAR = %x01-5a / %x5c / %x5e-ff (no brackets)
    private static int? MatchBlob(string s, int pos)
    {
        if (pos >= s.Length || s[pos] != '[')
        {
            return null;
        }
        var i = pos + 1;
        while (i < s.Length && s[i] is not ('[' or ']'))
        {
            i++;
        }
        if (i >= s.Length || s[i] != ']')
        {
            return null;
        }
        i++;
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }
        return i;
    }

    // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    private static int? MatchRefwd(string s, int pos)
    {
        int i;
        if (At(s, pos, "fwd"))
        {
            i = pos + 3;
        }
        else if (At(s, pos, "fw") || At(s, pos, "re"))
        {
            i = pos + 2;
        }
        else
        {
            return null;
        }
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }
        if (MatchBlob(s, i) is int afterBlob)
        {
            i = afterBlob;
        }
        return i < s.Length && s[i] == ':' ? i + 1 : null;
    }

    private static bool At(string s, int pos, string word) =>
        pos + word.Length <= s.Length && string.Compare(s, pos, word, 0, word.Length, StringComparison.OrdinalIgnoreCase) == 0;
}
