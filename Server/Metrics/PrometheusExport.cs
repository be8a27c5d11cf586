using MailServer.Server.Admin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Prometheus;

namespace MailServer.Server.Metrics;

/// <summary>
/// Publishes the <see cref="MailMetrics.MeterName"/> meter in the Prometheus text format through prometheus-net's
/// meter adapter, on a registry of its own (so no process or runtime collectors are mixed in). Names follow
/// prometheus-net's translation of the meter and instrument names, lower-cased: <c>mailserver_organizationemailreceived</c>
/// for a count (the adapter exposes .NET counters as Prometheus gauges that only go up) and
/// <c>mailserver_authenticationfailure_sum/_count/_bucket</c> for the 0/1 samples.
/// </summary>
public sealed class PrometheusExport : IDisposable
{
    private readonly IDisposable _adapter;

    /// <summary>Starts listening to the meter.</summary>
    public PrometheusExport()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            // Without its own factory the adapter creates the metrics in prometheus-net's default registry
            // (the Registry option alone is ignored: measured with 8.2.1).
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(Registry),
            InstrumentFilterPredicate = instrument => instrument.Meter.Name == MailMetrics.MeterName,
            // A handful of series per organization: keep them as long as the adapter allows (one day), so a quiet
            // organization's counters do not vanish between scrapes; after a silent day a series restarts at 0,
            // which Prometheus's rate() treats as a counter reset.
            MetricsExpireAfter = TimeSpan.FromDays(1),
            // The 0/1 samples of §20: a bucket at 0 and one at 1 give failures and attempts exactly.
            ResolveHistogramBuckets = instrument => instrument.Name == MailMetrics.ContentEngineLatencyName ? MailMetrics.ContentEngineLatencyBuckets : [0, 1],
        });
    }

    /// <summary>The registry the metrics are published in.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Writes every metric in the Prometheus text exposition format.</summary>
    public Task WriteAsync(Stream destination, CancellationToken cancellationToken) =>
        Registry.CollectAndExportAsTextAsync(destination, cancellationToken);

    /// <summary>Stops listening.</summary>
    public void Dispose() => _adapter.Dispose();
}

/// <summary><c>GET /metrics</c> on the admin listener (no token: scrapers reach it like /health).</summary>
public sealed class MetricsEndpoints(PrometheusExport export) : IAdminEndpoints
{
    /// <inheritdoc />
    public void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await export.WriteAsync(context.Response.Body, context.RequestAborted);
        });
    }
}
