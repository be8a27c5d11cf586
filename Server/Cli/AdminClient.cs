using System.Net;
using System.Net.Http.Headers;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;

namespace MailServer.Server.Cli;

/// <summary>
/// How a CLI verb talks to the running server: HTTP to the admin listener with the admin token from the data
/// directory. <see cref="TryCreateAsync"/> returns null when no server answers there, so a verb can fall back to
/// opening the store itself (it can only while the server is stopped: the server holds the database).
/// </summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    private AdminClient(HttpClient http) => _http = http;

    /// <summary>The admin listener's base address for <paramref name="config"/> (a wildcard bind is reached on loopback).</summary>
    public static Uri BaseAddress(ServerConfig config)
    {
        var endPoint = config.Listeners.Admin;
        var address = endPoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : endPoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : endPoint.Address;
        return new Uri($"http://{new IPEndPoint(address, endPoint.Port)}/");
    }

    /// <summary>A client for the server running on <paramref name="config"/>'s data directory, or null when none answers.</summary>
    /// <exception cref="UnauthorizedAccessException">The admin token file exists but this user may not read it.</exception>
    /// <param name="config">The configuration whose admin listener and token to use.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    /// <param name="timeout">How long one request may take (100 s by default; a backup passes an infinite one).</param>
    public static async Task<AdminClient?> TryCreateAsync(ServerConfig config, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        if (AdminToken.TryLoad(config.DataDirectory) is not { } token)
            return null;
        var http = new HttpClient { BaseAddress = BaseAddress(config), Timeout = timeout ?? TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Value);
        try
        {
            using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            probe.CancelAfter(TimeSpan.FromSeconds(15)); // refused at once when nothing listens; a loaded server may take seconds
            using var response = await http.GetAsync("admin/status", probe.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
                return new AdminClient(http);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Nothing listening (or something else is): no running server to talk to.
        }
        http.Dispose();
        return null;
    }

    /// <summary>Sends a request to <paramref name="path"/> (relative, e.g. "admin/queue") with the admin token.</summary>
    /// <exception cref="HttpRequestException">The server went away mid-request.</exception>
    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken) =>
        _http.SendAsync(new HttpRequestMessage(method, path) { Content = content }, cancellationToken);

    public void Dispose() => _http.Dispose();
}
