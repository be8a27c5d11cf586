using System.Text;
using System.Text.Json;
using MailServer.Rules.FlowRules;

namespace MailServer.Rules.Hooks;

/// <summary>
/// What a hook is told about a message (§10.2). Built once per message and rule; retries post the same
/// bytes, so <see cref="InvocationId"/> stays the same across them.
/// </summary>
/// <param name="MailFrom">The From header address (§10.2: "the user on whose behalf" the message was sent), "" when none.</param>
/// <param name="Recipients">Inbound: the organization's recipients of this SMTP transaction; outbound: every recipient.</param>
/// <param name="Sender">The Sender header address, only when it differs from From (sent on behalf); else null.</param>
/// <param name="Subject">The decoded subject, or null.</param>
/// <param name="MessageId">The in-transit id the message flow API answers to (not the RFC 5322 Message-ID).</param>
/// <param name="InvocationId">32 lower-case hex digits, the same for every retry.</param>
/// <param name="Direction">INBOUND or OUTBOUND.</param>
public sealed record HookEvent(
    string MailFrom,
    IReadOnlyList<string> Recipients,
    string? Sender,
    string? Subject,
    Guid MessageId,
    string InvocationId,
    FlowDirection Direction);

/// <summary>Writes the §10.2 event JSON exactly.</summary>
public static class HookEventJson
{
    /// <summary>§10.2: the schema version WorkMail sends.</summary>
    public const string SummaryVersion = "2018-10-10";

    /// <summary>§10.2: the payload limit; beyond it recipients are left out and "truncated" is true.</summary>
    public const int MaxPayloadBytes = 128 * 1024;

    /// <summary>§10.2: the subject is cut at 256 characters.</summary>
    public const int MaxSubjectLength = 256;

    /// <summary>A new invocation id: 32 hex digits, as in the §10.2 example.</summary>
    public static string NewInvocationId() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// The UTF-8 JSON body: <c>summaryVersion, envelope{mailFrom{address}, recipients[{address}]}, sender, subject,
    /// messageId, invocationId, flowDirection, truncated</c>. <c>sender</c> is null unless set (§10.2: "set only when
    /// an email message is sent on behalf of another user"). When the body would exceed 128 KB, recipients are
    /// dropped from the end until it fits and <c>truncated</c> is true.
    /// </summary>
    public static byte[] Serialize(HookEvent e)
    {
        var subject = TruncateSubject(e.Subject);
        var body = Write(e, subject, e.Recipients.Count, truncated: false);
        if (body.Length <= MaxPayloadBytes)
            return body;
        // Binary search for the most recipients that fit.
        int lo = 0, hi = e.Recipients.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (Write(e, subject, mid, truncated: true).Length <= MaxPayloadBytes)
                lo = mid;
            else
                hi = mid - 1;
        }
        return Write(e, subject, lo, truncated: true);
    }

    /// <summary>The subject cut at 256 characters, never inside a surrogate pair.</summary>
    public static string? TruncateSubject(string? subject)
    {
        if (subject is null || subject.Length <= MaxSubjectLength)
            return subject;
        var cut = MaxSubjectLength;
        if (char.IsHighSurrogate(subject[cut - 1]))
            cut--;
        return subject[..cut];
    }

    private static byte[] Write(HookEvent e, string? subject, int recipients, bool truncated)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("summaryVersion", SummaryVersion);
            w.WriteStartObject("envelope");
            w.WriteStartObject("mailFrom");
            w.WriteString("address", e.MailFrom);
            w.WriteEndObject();
            w.WriteStartArray("recipients");
            for (var i = 0; i < recipients; i++)
            {
                w.WriteStartObject();
                w.WriteString("address", e.Recipients[i]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            if (e.Sender is null)
            {
                w.WriteNull("sender");
            }
            else
            {
                w.WriteStartObject("sender");
                w.WriteString("address", e.Sender);
                w.WriteEndObject();
            }
            if (subject is null)
                w.WriteNull("subject");
            else
                w.WriteString("subject", subject);
            w.WriteString("messageId", e.MessageId.ToString("D"));
            w.WriteString("invocationId", e.InvocationId);
            w.WriteString("flowDirection", e.Direction == FlowDirection.Inbound ? "INBOUND" : "OUTBOUND");
            w.WriteBoolean("truncated", truncated);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>For logs and tests: the body as text.</summary>
    public static string ToText(byte[] body) => Encoding.UTF8.GetString(body);
}
