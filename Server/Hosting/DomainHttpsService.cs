using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailServer.Protocols.Authentication;
using MailServer.Protocols.Tls;
using MailServer.Server.ClientSetup;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Server.Security;
using MailServer.Server.Security.Acme;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Hosting;

/// <summary>Registers the domain's public HTTPS endpoints and the start-up notices about names and certificates.</summary>
public static class DomainEndpointsRegistration
{
    /// <summary>
    /// Adds the start-up notices (certificate fingerprint, a ServerName that is not fully qualified) and the HTTPS
    /// listener (Listeners.Https). Needs the server's <see cref="ConfigMonitor"/>, certificate and
    /// <see cref="ICredentialValidator"/> in the container.
    /// </summary>
    public static IServiceCollection AddDomainEndpoints(this IServiceCollection services)
    {
        services.AddHostedService<StartupNoticesService>();
        services.AddSingleton<AcmeChallenges>();
        services.AddHostedService<DomainHttpsService>();
        services.AddHostedService<AcmeCertificateService>();
        return services;
    }
}

/// <summary>
/// Logs once at start what an admin must check by eye: the certificate's SHA-256 fingerprint (users compare it with
/// what their client shows before trusting a self-signed certificate) and a ServerName that is not a fully
/// qualified domain name.
/// </summary>
internal sealed class StartupNoticesService(ConfigMonitor monitor, ServerCertificateProvider certificates, ILoggerFactory loggerFactory) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger("MailServer.Tls");
        var config = monitor.Config;
        var certificate = certificates.Certificate;
        DomainLog.Certificate(logger, certificate.Subject,
            config.Tls.CertificatePath ?? (TlsCertificates.IsSelfSigned(certificate)
                ? config.Tls.Acme is null ? "self-signed, generated" : "self-signed, generated, until ACME issues one"
                : config.Tls.Acme is null ? "generated" : "ACME, " + Path.Combine(AcmeStore.PathIn(config.DataDirectory), "cert.pem")),
            certificate.NotAfter.ToUniversalTime(), TlsCertificates.Sha256Fingerprint(certificate));
        if (!AddressSyntax.IsFullyQualifiedServerName(config.ServerName))
            DomainLog.ServerNameNotQualified(loggerFactory.CreateLogger("MailServer.Host"), config.ServerName);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The HTTPS listener (Listeners.Https, default 2443) for the domain's public endpoints, with the mail listeners'
/// certificate and TLS 1.2 minimum: Thunderbird autoconfig, Outlook autodiscover (POX and JSON), an Apple
/// configuration profile for a signed-in user, and the MTA-STS policy (RFC 8461). Every answer names the server's
/// host (ServerName) and the ports it listens on, read from the configuration in force.
/// Kestrel runs as its own small web application, like the admin listener.
/// </summary>
internal sealed class DomainHttpsService(
    ConfigMonitor monitor,
    ServerCertificateProvider certificates,
    ICredentialValidator credentials,
    AcmeChallenges acmeChallenges,
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    /// <summary>Where the Apple profile is served.</summary>
    public const string ProfilePath = "/mail/profile.mobileconfig";

    // Outlook's JSON autodiscover names its members in PascalCase (Protocol, Url, ErrorCode).
    private static readonly System.Text.Json.JsonSerializerOptions PascalCase = new() { PropertyNamingPolicy = null };

    private readonly ILogger _logger = loggerFactory.CreateLogger("MailServer.ClientSetup");
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var config = monitor.Config;
        var endPoint = new IPEndPoint(config.Listeners.BindAddress, config.Listeners.Https);
        var httpEndPoint = config.Tls.Acme is null ? null : new IPEndPoint(config.Listeners.BindAddress, config.Listeners.Http);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "mailserver-https" });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = OutlookAutodiscover.MaxRequestBytes;
            k.Listen(endPoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                // The mail listeners' certificate context, asked per handshake (an ACME renewal swaps it): one chain
                // build, shared session resumption (§28: TLS 1.2+).
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = certificates.Context,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    }),
                });
            });
            // RFC 8555 §8.3: the CA fetches HTTP-01 answers over plain HTTP on port 80 (forwarded here). Open only with ACME.
            if (httpEndPoint is not null)
                k.Listen(httpEndPoint, listen => listen.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        if (httpEndPoint is not null)
            app.Use(PlainHttp);
        app.UseRouting();
        // Thunderbird: autoconfig.DOMAIN/mail/config-v1.1.xml, then DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml.
        app.MapGet("/mail/config-v1.1.xml", Autoconfig);
        app.MapGet("/.well-known/autoconfig/mail/config-v1.1.xml", Autoconfig);
        // Outlook: POX on autodiscover.DOMAIN, and the JSON form that points at it.
        app.MapPost("/autodiscover/autodiscover.xml", (Delegate)AutodiscoverAsync);
        app.MapGet("/autodiscover/autodiscover.json", (HttpContext c) => AutodiscoverJson(c, c.Request.Query["Email"]));
        app.MapGet("/autodiscover/autodiscover.json/v1.0/{email}", (HttpContext c, string email) => AutodiscoverJson(c, email));
        app.MapGet(ProfilePath, (Delegate)ProfileAsync);
        app.MapGet(MtaStsPolicy.Path, MtaSts);

        await app.StartAsync(cancellationToken);
        _app = app;
        DomainLog.HttpsListening(_logger, endPoint.ToString());
        if (httpEndPoint is not null)
            AcmeLog.HttpListening(_logger, httpEndPoint.ToString());
    }

    /// <summary>
    /// The plain HTTP listener answers ACME HTTP-01 challenges (the key authorization as text, 404 for an unknown
    /// token) and redirects everything else to HTTPS on the default port, so no password or profile crosses it in clear.
    /// </summary>
    private Task PlainHttp(HttpContext context, Func<Task> next)
    {
        if (context.Request.IsHttps)
            return next();
        var path = context.Request.Path.Value ?? "";
        if (path.StartsWith(AcmeChallenges.PathPrefix, StringComparison.Ordinal))
        {
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
                return Results.StatusCode(405).ExecuteAsync(context);
            var answer = acmeChallenges.Find(path[AcmeChallenges.PathPrefix.Length..]);
            return (answer is null ? Results.NotFound() : Results.Text(answer, "application/octet-stream", Encoding.ASCII)).ExecuteAsync(context);
        }
        var host = context.Request.Host.Host;
        return Results.Redirect($"https://{host}{context.Request.PathBase}{path}{context.Request.QueryString}", permanent: true, preserveMethod: true)
            .ExecuteAsync(context);
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

    private IResult Autoconfig(HttpContext context)
    {
        var config = monitor.Config;
        // The address the user typed names the domain; without it, the autoconfig.DOMAIN host does.
        var typed = context.Request.Query["emailaddress"].ToString();
        var found = typed.Length > 0
            ? DomainLookup.Find(config, typed)
            : DomainLookup.Find(config, DomainLookup.DomainOfHost(context.Request.Host.Value, "autoconfig"));
        if (found is not { } f)
            return Results.NotFound();
        return Results.Text(ThunderbirdAutoconfig.Build(f.Domain, f.Domain, ClientEndpoints.From(config)),
            ThunderbirdAutoconfig.ContentType, Encoding.UTF8);
    }

    private async Task<IResult> AutodiscoverAsync(HttpContext context)
    {
        var config = monitor.Config;
        var now = DateTimeOffset.UtcNow;
        OutlookAutodiscover.Request? request;
        try
        {
            // Buffered: the XML reader is synchronous and Kestrel refuses synchronous body reads.
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            body.Position = 0;
            request = OutlookAutodiscover.ParseRequest(body);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            request = null; // larger than MaxRequestBytes
        }
        string answer;
        if (request is null)
            answer = OutlookAutodiscover.Error(600, "Invalid Request", now);
        else if (!string.Equals(request.AcceptableResponseSchema, OutlookAutodiscover.OutlookResponseNamespace, StringComparison.OrdinalIgnoreCase))
            answer = OutlookAutodiscover.Error(601, "Provider is not available", now);
        else if (DomainLookup.Find(config, request.EmailAddress) is null || !AddressSyntax.IsValidAddress(request.EmailAddress.ToLowerInvariant()))
            answer = OutlookAutodiscover.Error(500, "The email address can't be found.", now);
        else
            // Any address of a served domain gets the settings: whether a mailbox exists is not told here.
            answer = OutlookAutodiscover.Settings(request.EmailAddress.ToLowerInvariant(), request.EmailAddress.ToLowerInvariant(), ClientEndpoints.From(config));
        return Results.Text(answer, OutlookAutodiscover.ContentType, Encoding.UTF8);
    }

    private IResult AutodiscoverJson(HttpContext context, string? email)
    {
        var config = monitor.Config;
        var protocol = context.Request.Query["Protocol"].ToString();
        if (string.IsNullOrEmpty(email) || !AddressSyntax.IsValidAddress(email.Trim().ToLowerInvariant()))
            return Results.Json(new { ErrorCode = "InvalidRequest", ErrorMessage = "An email address is required." }, PascalCase, statusCode: 400);
        if (!string.Equals(protocol, OutlookAutodiscover.JsonProtocol, StringComparison.OrdinalIgnoreCase))
            return Results.Json(new
            {
                ErrorCode = "InvalidProtocol",
                ErrorMessage = $"The given protocol value '{protocol}' is invalid. Supported values are '{OutlookAutodiscover.JsonProtocol}'.",
            }, PascalCase, statusCode: 400);
        if (DomainLookup.Find(config, email) is null)
            return Results.Json(new { ErrorCode = "InvalidUser", ErrorMessage = "The email address is not served here." }, PascalCase, statusCode: 404);
        return Results.Json(new
        {
            Protocol = OutlookAutodiscover.JsonProtocol,
            Url = ClientEndpoints.From(config).HttpsUrl("/autodiscover/autodiscover.xml"),
        }, PascalCase);
    }

    private async Task<IResult> ProfileAsync(HttpContext context)
    {
        var credentialsGiven = BasicCredentials(context.Request.Headers.Authorization.ToString());
        if (credentialsGiven is not var (user, password))
            return Challenge();
        var remote = context.Connection.RemoteIpAddress ?? IPAddress.None;
        // The same check as an IMAP LOGIN (password, enabled, access control rules for IMAP, failure throttling):
        // the profile sets up IMAP, so whoever may not use IMAP gets no profile either.
        var result = await credentials.ValidateAsync(user, password, remote, LoginProtocol.Imap, context.RequestAborted);
        switch (result)
        {
            case LoginResult.Success { User: var u }:
                DomainLog.ProfileServed(_logger, u.Email);
                var config = monitor.Config;
                context.Response.Headers.ContentDisposition = "attachment; filename=\"mail.mobileconfig\"";
                context.Response.Headers.CacheControl = "no-store";
                return Results.Text(AppleMailProfile.Build(u.Email, u.DisplayName, ClientEndpoints.From(config)), AppleMailProfile.ContentType, Encoding.UTF8);
            case LoginResult.Throttled t:
                DomainLog.ProfileRefused(_logger, user, "throttled");
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(t.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Results.StatusCode(StatusCodes.Status429TooManyRequests);
            case LoginResult.Disabled or LoginResult.Denied:
                DomainLog.ProfileRefused(_logger, user, result is LoginResult.Disabled ? "disabled" : "denied by access control rules");
                return Results.StatusCode(StatusCodes.Status403Forbidden);
            default:
                DomainLog.ProfileRefused(_logger, user, "invalid credentials");
                return Challenge();
        }

        IResult Challenge()
        {
            // RFC 7617 §2.1: the realm, and UTF-8 for the user name and password.
            context.Response.Headers.WWWAuthenticate = $"Basic realm=\"{monitor.Config.ServerName}\", charset=\"UTF-8\"";
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }
    }

    /// <summary>RFC 7617: "Basic" and base64 of UTF-8 "user:password"; null when absent or malformed.</summary>
    internal static (string User, string Password)? BasicCredentials(string header)
    {
        const string scheme = "Basic ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[scheme.Length..].Trim()));
            var colon = decoded.IndexOf(':');
            return colon <= 0 ? null : (decoded[..colon], decoded[(colon + 1)..]);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private IResult MtaSts(HttpContext context)
    {
        var config = monitor.Config;
        // RFC 8461 §3.3: the policy host is mta-sts.DOMAIN; the Host header says which domain is asked about.
        if (DomainLookup.Find(config, DomainLookup.DomainOfHost(context.Request.Host.Value, "mta-sts")) is not { Organization.MtaSts: { } policy })
            return Results.NotFound();
        return Results.Text(MtaStsPolicy.Text(policy, [config.ServerName]), MtaStsPolicy.ContentType, Encoding.UTF8);
    }
}
