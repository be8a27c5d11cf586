using MailServer.Server.Admin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MailServer.Server.Retention;

/// <summary>
/// <c>POST /admin/retention/run[?dryRun=true]</c> (admin token): runs the retention policies once in the running
/// server and answers the <see cref="RetentionReport"/> as JSON. <c>mailserver retention run</c> calls it.
/// </summary>
public sealed class RetentionEndpoints(RetentionService service) : IAdminEndpoints
{
    /// <inheritdoc />
    public void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGroup("/admin/retention").RequireAdminToken().MapPost("/run", async (HttpContext context, bool? dryRun) =>
            Results.Json(await service.RunOnceAsync(dryRun == true, context.RequestAborted)));
    }
}
