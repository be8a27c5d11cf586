using System.Net;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// The admin HTTP listener (Listeners.Admin, by default 127.0.0.1:8025): <c>GET /health</c> for probes, and every
/// registered <see cref="IAdminEndpoints"/> (metrics, message flow API, <c>/admin/...</c> routes behind the admin
/// token). Kestrel runs as its own small web application inside the server's host, sharing its logger factory;
/// handlers reach the server's services through the endpoint classes the server's container built.
/// </summary>
internal sealed class AdminHttpService(
    ConfigMonitor monitor,
    AdminToken token,
    IEnumerable<IAdminEndpoints> areas,
    ILoggerFactory loggerFactory,
    ContentFiltering.ContentEngineHealth engines) : IHostedService, IAsyncDisposable
{
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var config = monitor.Config;
        // The empty builder reads no appsettings.json or environment of its own: the admin's file is ours alone.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "mailserver-admin" });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(token);
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64L * 1024 * 1024; // a 40 MiB message PUT through the message flow API, base64 included
            k.Listen(config.Listeners.Admin);
        });

        var app = builder.Build();
        app.UseRouting();
        app.MapGet("/health", async (HttpContext context) =>
        {
            // The content filtering engines, pinged now: "degraded" while a configured one does not answer (mail then
            // flows per ContentFiltering.FailMode).
            var filtering = await engines.CheckAsync(context.RequestAborted);
            return Results.Json(new
            {
                status = filtering.Degraded ? "degraded" : "ok",
                serverName = config.ServerName,
                startedAt = _startedAt,
                uptimeSeconds = (long)(DateTimeOffset.UtcNow - _startedAt).TotalSeconds,
                contentFiltering = new { rspamd = filtering.Rspamd, clamd = filtering.Clamd },
            });
        });
        app.MapGroup("/admin").RequireAdminToken().MapGet("/status", () => Results.Json(new
        {
            serverName = config.ServerName,
            startedAt = _startedAt,
            organizations = monitor.Config.Organizations.Select(o => new { o.Id, o.Alias, domains = o.Domains.Select(d => d.Name) }),
        }));
        foreach (var area in areas)
            area.Map(app);

        await app.StartAsync(cancellationToken);
        _app = app;
        HostLog.AdminListening(loggerFactory.CreateLogger("MailServer.Admin"), config.Listeners.Admin.ToString());
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
            await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
            await _app.DisposeAsync();
    }
}
