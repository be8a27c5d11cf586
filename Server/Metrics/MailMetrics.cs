using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MailServer.Server.Metrics;

/// <summary>
/// The metrics of §20, with WorkMail's exact names, on one <see cref="Meter"/> named <see cref="MeterName"/>.
/// Every measurement carries the organization id in the <see cref="TenantTag"/> tag.
/// Counts (<c>OrganizationEmailReceived</c>, <c>MailboxEmailDelivered</c>, <c>IncomingEmailBounced</c>,
/// <c>OutgoingEmailSent</c>, <c>OutgoingEmailBounced</c>) are counters with §20's cardinality: one per
/// message, one per mailbox, one per bounced or sent recipient. The 0/1 samples (<c>AuthenticationFailure</c>,
/// <c>AccessDenied</c>, <c>ActionDenied</c>, <c>AvailabilityProviderFailure</c>) are histograms of 0 and 1, so
/// the sum is the failures, the count the attempts and sum/count the failure ratio (CloudWatch's Sum,
/// SampleCount and Average). Thread-safe; one instance per process.
/// </summary>
public sealed class MailMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "MailServer";

    /// <summary>The tag naming the organization (§20 [SH]: a "tenant" tag).</summary>
    public const string TenantTag = "tenant";

    private readonly Meter _meter;
    private readonly Counter<long> _organizationEmailReceived;
    private readonly Counter<long> _mailboxEmailDelivered;
    private readonly Counter<long> _incomingEmailBounced;
    private readonly Counter<long> _outgoingEmailBounced;
    private readonly Counter<long> _outgoingEmailSent;
    private readonly Histogram<int> _authenticationFailure;
    private readonly Histogram<int> _accessDenied;
    private readonly Histogram<int> _actionDenied;
    private readonly Histogram<int> _availabilityProviderFailure;
    private readonly Counter<long> _contentFilterVerdicts;
    private readonly Counter<long> _contentEngineFailures;
    private readonly Histogram<double> _contentEngineLatency;
    private readonly Counter<long> _junkTraining;

    /// <summary>Creates the meter and its instruments.</summary>
    /// <param name="meterFactory">The host's meter factory; a private meter when null (tests).</param>
    public MailMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _organizationEmailReceived = _meter.CreateCounter<long>("OrganizationEmailReceived", "{email}",
            "Emails received by the organization; one per email, whatever the number of its recipients.");
        _mailboxEmailDelivered = _meter.CreateCounter<long>("MailboxEmailDelivered", "{email}",
            "Emails delivered to individual mailboxes; one per mailbox.");
        _incomingEmailBounced = _meter.CreateCounter<long>("IncomingEmailBounced", "{recipient}",
            "Incoming emails bounced because a mailbox was full; one per bounced recipient.");
        _outgoingEmailBounced = _meter.CreateCounter<long>("OutgoingEmailBounced", "{recipient}",
            "Outgoing emails that could not be delivered; one per undeliverable recipient.");
        _outgoingEmailSent = _meter.CreateCounter<long>("OutgoingEmailSent", "{recipient}",
            "Outgoing emails sent; one per recipient that accepted the email.");
        _authenticationFailure = Sample("AuthenticationFailure", "Authentication attempts: 1 failed, 0 succeeded.");
        _accessDenied = Sample("AccessDenied", "Access control evaluations: 1 denied, 0 granted.");
        _actionDenied = Sample("ActionDenied", "Actions on mailbox data: 1 denied, 0 granted.");
        _availabilityProviderFailure = Sample("AvailabilityProviderFailure", "Availability provider requests: 1 failed, 0 succeeded.");

        _contentFilterVerdicts = _meter.CreateCounter<long>("ContentFilterVerdicts", "{email}",
            "Messages the content filter decided, by verdict: clean, spam, virus, spam_rejected, deferred, unscanned, throttled.");
        _contentEngineFailures = _meter.CreateCounter<long>("ContentEngineFailures", "{call}",
            "Calls to a content filtering engine (rspamd, clamd) that failed or timed out.");
        _contentEngineLatency = _meter.CreateHistogram<double>(ContentEngineLatencyName, "ms",
            "Time one content filtering engine took for one message, in milliseconds.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ContentEngineLatencyBuckets });
        _junkTraining = _meter.CreateCounter<long>("JunkTraining", "{message}",
            "Messages sent to rspamd's learning because a user moved them into or out of Junk E-mail, by kind (spam, ham) and result.");

        Histogram<int> Sample(string name, string description) =>
            _meter.CreateHistogram<int>(name, "{attempt}", description,
                advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1] });
    }

    /// <summary>The meter (tests listen to it).</summary>
    public Meter Meter => _meter;

    /// <summary>An email reached the organization (once per email).</summary>
    public void OrganizationEmailReceived(string organizationId) => _organizationEmailReceived.Add(1, Tenant(organizationId));

    /// <summary>An email was stored in one mailbox.</summary>
    public void MailboxEmailDelivered(string organizationId) => _mailboxEmailDelivered.Add(1, Tenant(organizationId));

    /// <summary>An incoming email bounced for one recipient whose mailbox was full.</summary>
    public void IncomingEmailBounced(string organizationId) => _incomingEmailBounced.Add(1, Tenant(organizationId));

    /// <summary>An outgoing email could not be delivered to one recipient.</summary>
    public void OutgoingEmailBounced(string organizationId) => _outgoingEmailBounced.Add(1, Tenant(organizationId));

    /// <summary>An outgoing email was accepted by one recipient's server.</summary>
    public void OutgoingEmailSent(string organizationId) => _outgoingEmailSent.Add(1, Tenant(organizationId));

    /// <summary>One authentication attempt; <paramref name="failed"/> records 1, success 0.</summary>
    public void AuthenticationAttempt(string organizationId, bool failed) => _authenticationFailure.Record(failed ? 1 : 0, Tenant(organizationId));

    /// <summary>One access control evaluation; denied records 1, granted 0.</summary>
    public void AccessEvaluated(string organizationId, bool denied) => _accessDenied.Record(denied ? 1 : 0, Tenant(organizationId));

    /// <summary>One action on mailbox data; denied records 1, granted 0.</summary>
    public void MailboxAction(string organizationId, bool denied) => _actionDenied.Record(denied ? 1 : 0, Tenant(organizationId));

    /// <summary>One availability provider request; failed records 1, success 0 (no provider exists yet).</summary>
    public void AvailabilityProviderRequest(string organizationId, bool failed) => _availabilityProviderFailure.Record(failed ? 1 : 0, Tenant(organizationId));

    /// <summary>The name of the engine latency histogram (its buckets are milliseconds, not the 0/1 samples').</summary>
    public const string ContentEngineLatencyName = "ContentEngineLatency";

    /// <summary>The engine latency buckets in milliseconds.</summary>
    public static double[] ContentEngineLatencyBuckets { get; } = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 15000];

    /// <summary>The content filter decided a message: <paramref name="verdict"/> is clean, spam, virus, spam_rejected, deferred, unscanned or throttled.</summary>
    public void ContentFilterVerdict(string verdict) => _contentFilterVerdicts.Add(1, new KeyValuePair<string, object?>("verdict", verdict));

    /// <summary>A call to <paramref name="engine"/> (rspamd, clamd) failed or timed out.</summary>
    public void ContentEngineFailure(string engine) => _contentEngineFailures.Add(1, new KeyValuePair<string, object?>("engine", engine));

    /// <summary><paramref name="engine"/> took <paramref name="elapsed"/> for one message.</summary>
    public void ContentEngineLatency(string engine, TimeSpan elapsed) =>
        _contentEngineLatency.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("engine", engine));

    /// <summary>One message sent to rspamd's learning (<paramref name="kind"/> spam or ham); <paramref name="failed"/> when rspamd did not take it.</summary>
    public void JunkTraining(string kind, bool failed) =>
        _junkTraining.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("result", failed ? "failed" : "learned"));

    /// <summary>Disposes the meter (ends every listener's view of it).</summary>
    public void Dispose() => _meter.Dispose();

    private static KeyValuePair<string, object?> Tenant(string organizationId) => new(TenantTag, organizationId);
}
