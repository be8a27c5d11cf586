using MailServer.Server.Admin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MailServer.Server.Import;

/// <summary>
/// Mailbox imports on the admin listener (admin token): <c>POST /admin/imports</c> with an <see cref="ImportRequest"/>
/// starts or resumes a job (202 with its record; 400 <c>{"error"}</c> for bad input; 409 when that job runs already),
/// <c>GET /admin/imports</c> lists jobs, <c>GET /admin/imports/ID</c> is one job's record (404 when unknown),
/// <c>POST /admin/imports/ID/cancel</c> cancels it. <c>mailserver import ...</c> calls these while the server runs.
/// </summary>
internal sealed class ImportEndpoints(ImportJobs jobs) : IAdminEndpoints
{
    public void Map(IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin/imports").RequireAdminToken();
        group.MapPost("", (ImportRequest request) =>
        {
            try
            {
                return Results.Content(jobs.Start(request).ToJson(), "application/json", statusCode: StatusCodes.Status202Accepted);
            }
            catch (Exception e) when (e is ArgumentException or ImportSourceException)
            {
                return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest);
            }
            catch (InvalidOperationException e)
            {
                return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status409Conflict);
            }
        });
        group.MapGet("", () => Results.Content("[" + string.Join(",", jobs.List().Select(j => j.ToJson())) + "]", "application/json"));
        group.MapGet("/{id}", (string id) => jobs.Get(id) is { } job
            ? Results.Content(job.ToJson(), "application/json")
            : Results.Json(new { error = $"no import job {id}" }, statusCode: StatusCodes.Status404NotFound));
        group.MapPost("/{id}/cancel", (string id) => jobs.Cancel(id)
            ? Results.Json(new { cancelled = id })
            : Results.Json(new { error = $"import job {id} is not running" }, statusCode: StatusCodes.Status404NotFound));
    }
}
