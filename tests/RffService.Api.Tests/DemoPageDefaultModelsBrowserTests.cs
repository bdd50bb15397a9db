using System.Text.Json;
using Microsoft.Playwright;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// The demo page on the repository's own models and samples, at a desktop and a phone window: it opens on the configured
/// default classifier, classifies and explains a sample, detects the items of a sample canvas and explains one, and
/// nothing leaves its card or the window. Screenshots of each step are kept (screenshots/default-*-WxH.png).
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Browser")]
public sealed class DemoPageDefaultModelsBrowserTests : IAsyncLifetime
{
    private static readonly string Root = FashionMnistFixture.FindRepositoryRoot();
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
    private readonly ModelsOnKestrel _service = new(Path.Combine(Root, "models"));
    private string _address = "";

    public async Task InitializeAsync() => _address = await _service.StartAsync();

    public async Task DisposeAsync() => await _service.DisposeAsync();

    /// <summary>Every element of the selector lies inside its result card and the card inside the window's width.</summary>
    private static async Task AssertInsideCardsAsync(IPage page, string selector)
    {
        string outside = await page.EvaluateAsync<string>(@"selector => [...document.querySelectorAll(selector)]
            .filter(e => e.getClientRects().length > 0)
            .map(e => { const r = e.getBoundingClientRect(), card = e.closest('section, .controls').getBoundingClientRect();
                        return (r.left < card.left - 0.5 || r.right > card.right + 0.5 || card.right > window.innerWidth + 0.5) ? (e.id || e.tagName) : ''; })
            .filter(x => x).join(', ')", selector);
        Assert.True(outside.Length == 0, $"outside their card or the window: {outside}");
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways");
    }

    private static Task WaitForImageAsync(IPage page, string id) =>
        page.WaitForFunctionAsync($"() => {{ const i = document.getElementById('{id}'); return i.complete && i.naturalWidth > 0; }}");

    private async Task ScreenshotAsync(IPage page, string step, int width, int height)
    {
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, $"default-{step}-{width}x{height}.png"), FullPage = true });
    }

    [Theory]
    [InlineData(1280, 900)]
    [InlineData(390, 844)]
    public async Task Classify_explain_detect_and_explain_a_detection_with_the_default_models(int width, int height)
    {
        Assert.True(File.Exists(DemoPageBrowserTests.ChromiumPath), $"The browser tests need Chromium at {DemoPageBrowserTests.ChromiumPath}.");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DemoPageBrowserTests.ChromiumPath,
            Headless = true,
            Timeout = 120_000,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = width, Height = height } });
        page.SetDefaultTimeout(120_000);
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") consoleErrors.Add(message.Text); };
        using var http = new HttpClient();
        var models = JsonDocument.Parse(await http.GetStringAsync(_address + "/models")).RootElement;
        string classifier = models.GetProperty("defaultModels").GetProperty("classification").GetString()!;
        string detector = models.GetProperty("defaultModels").GetProperty("detection").GetString()!;

        // Opens on the configured default classifier.
        await page.GotoAsync(_address + "/");
        await page.WaitForSelectorAsync($"#model option[value='{detector}']", new() { State = WaitForSelectorState.Attached });
        Assert.Equal(classifier, await page.InputValueAsync("#model"));

        // Classify and explain a sample item: the true class on top, the overlay drawn large.
        await page.SetInputFilesAsync("#file", Path.Combine(Root, "samples", "shirt.png"));
        await page.WaitForSelectorAsync("#predictions li.prediction");
        Assert.Equal("Shirt", await page.InnerTextAsync("#predictions li.prediction .label"));
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.length > 0");
        await WaitForImageAsync(page, "cam-overlay");
        Assert.True(await page.EvaluateAsync<int>("document.getElementById('cam-overlay').naturalWidth") >= 256, "the overlay is not enlarged");
        Assert.True(await page.EvaluateAsync<double>("document.getElementById('cam-overlay').getBoundingClientRect().width") >= 150);
        // The layer list names each layer in full in its tooltip, however narrow the select.
        Assert.Equal(await page.EvaluateAsync<string>("document.getElementById('cam-layer').selectedOptions[0].text"),
            await page.GetAttributeAsync("#cam-layer", "title"));
        Assert.True(await page.EvaluateAsync<bool>("[...document.getElementById('cam-layer').options].every(o => o.title === o.text)"));
        await AssertInsideCardsAsync(page, "#classification *, #explanation *, .controls select, .controls button");
        await ScreenshotAsync(page, "classify-explain", width, height);

        // Detect the items of a sample canvas: every item listed once with its true label, and explain the first.
        await page.SelectOptionAsync("#model", detector);
        await page.SetInputFilesAsync("#file", Path.Combine(Root, "samples", "canvas-0.png"));
        await page.WaitForSelectorAsync("#detections li.detection");
        var truth = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "samples", "canvas-0.json"))).RootElement.EnumerateArray()
            .Select(o => o.GetProperty("label").GetString()!).Order().ToList();
        var listed = (await page.Locator("#detections li.detection .label").AllInnerTextsAsync()).Order().ToList();
        Assert.Equal(truth, listed);
        await WaitForImageAsync(page, "detection-overlay");
        Assert.True(await page.EvaluateAsync<double>("document.getElementById('detection-overlay').getBoundingClientRect().width") >= 300);
        await AssertInsideCardsAsync(page, "#detection *");
        await ScreenshotAsync(page, "detect", width, height);

        await page.ClickAsync("#detections li.detection button.explain");
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.includes('detection')");
        await WaitForImageAsync(page, "cam-overlay");
        Assert.True(await page.EvaluateAsync<int>("document.getElementById('cam-overlay').naturalWidth") >= 256);
        await AssertInsideCardsAsync(page, "#detection *, #explanation *");
        await ScreenshotAsync(page, "detect-explain", width, height);

        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(consoleErrors);
    }
}
