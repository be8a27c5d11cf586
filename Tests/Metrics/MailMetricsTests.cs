using System.Text;
using MailServer.Server.Metrics;
using NUnit.Framework;

namespace MailServer.Tests.Metrics;

/// <summary>§20's metrics with their exact names, and their Prometheus text through prometheus-net.</summary>
[TestFixture, NonParallelizable] // the meter name is process-wide: one export at a time sees it
public sealed class MailMetricsTests
{
    private static readonly string[] Names =
    [
        "OrganizationEmailReceived", "MailboxEmailDelivered", "IncomingEmailBounced", "OutgoingEmailBounced", "OutgoingEmailSent",
        "AuthenticationFailure", "AccessDenied", "ActionDenied", "AvailabilityProviderFailure",
    ];

    [Test]
    public void Every_metric_of_section_20_exists_on_the_MailServer_meter()
    {
        using var metrics = new MailMetrics();
        var published = new List<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, _) => { if (i.Meter == metrics.Meter) published.Add(i.Name); };
        listener.Start();
        Assert.That(metrics.Meter.Name, Is.EqualTo("MailServer"));
        // WorkMail's §20 metrics, plus ours for the content filtering engines (rspamd, ClamAV) and nothing else.
        Assert.That(published, Is.EquivalentTo(Names.Concat(["ContentFilterVerdicts", "ContentEngineLatency", "ContentEngineFailures", "JunkTraining"])));
    }

    [Test]
    public async Task The_Prometheus_text_has_counters_with_the_tenant_label_and_zero_one_samples_as_sum_and_count()
    {
        using var export = new PrometheusExport();
        using var metrics = new MailMetrics();
        metrics.OrganizationEmailReceived("m-1");
        metrics.MailboxEmailDelivered("m-1");
        metrics.MailboxEmailDelivered("m-1");
        metrics.AuthenticationAttempt("m-1", failed: true);
        metrics.AuthenticationAttempt("m-1", failed: false);
        metrics.AuthenticationAttempt("m-1", failed: false);

        using var buffer = new MemoryStream();
        await export.WriteAsync(buffer, CancellationToken.None);
        var text = Encoding.UTF8.GetString(buffer.ToArray());

        Assert.That(text, Does.Contain("mailserver_organizationemailreceived{tenant=\"m-1\"} 1"));
        Assert.That(text, Does.Contain("mailserver_mailboxemaildelivered{tenant=\"m-1\"} 2"));
        Assert.That(text, Does.Contain("mailserver_authenticationfailure_sum{tenant=\"m-1\"} 1"), "failures");
        Assert.That(text, Does.Contain("mailserver_authenticationfailure_count{tenant=\"m-1\"} 3"), "attempts");
    }
}
