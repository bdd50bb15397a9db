using RffService.Api.Hosting;
using RffService.Api;

if (args.Contains(HealthProbe.Flag)) return HealthProbe.Run(args);
if (args.FirstOrDefault() == InspectCommand.Verb) return InspectCommand.Run(args, Console.Out, Console.Error);

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = ServiceDefaults.ContentRoot(args) });
builder.AddRffService();

var app = builder.Build();
app.UseRffService();
app.MapRffEndpoints();
app.Run();
return 0;

/// <summary>Entry point; public so integration tests can host the app.</summary>
public partial class Program;
