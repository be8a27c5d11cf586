using MailServer.Server.Admin;
using MailServer.Server.Delivery;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// The outbound queue on the admin listener (token required): GET /admin/queue, GET /admin/queue/held (messages
/// held for a synchronous hook), POST /admin/queue/retry (all),
/// POST /admin/queue/{id}/retry, DELETE /admin/queue/{id}. `mailserver queue ...` calls these while the server runs.
/// </summary>
internal sealed class QueueAdminEndpoints(IQueueStore store, IHeldMessageStore held, OutboundQueue queue, ILogger<QueueAdminEndpoints> logger) : IAdminEndpoints
{
    public void Map(IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin/queue").RequireAdminToken();
        group.MapGet("", () => Results.Json(QueueAdministration.List(store)));
        group.MapGet("/held", () => Results.Json(QueueAdministration.ListHeld(held)));
        group.MapPost("/retry", async (CancellationToken ct) => Results.Json(new { retried = await queue.RetryNowAsync(null, ct) }));
        group.MapPost("/{id}/retry", async (string id, CancellationToken ct) =>
            await queue.RetryNowAsync(id, ct) is var n and > 0 ? Results.Json(new { retried = n }) : Results.NotFound(new { error = $"no queued message {id}" }));
        group.MapDelete("/{id}", async (string id, CancellationToken ct) =>
        {
            if (!await QueueAdministration.DeleteAsync(store, id, ct))
                return Results.NotFound(new { error = $"no queued message {id}" });
            QueueLog.Deleted(logger, id);
            return Results.NoContent();
        });
    }
}
