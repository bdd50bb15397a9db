using RffService.Inference.Explanations;
using RffService.Onnx.Explanations;
using RffService.Vision;

namespace RffService.Inference.Tests;

public class ExplanationAdmissionTests
{
    private static readonly CamLayer Layer = new("rff", "rff", "rff", 256, 7, 7, LinearAfter: true, Refusal: null);

    [Fact]
    public void Passes_count_the_graph_the_blank_reference_scored_channels_and_faithfulness()
    {
        Assert.Equal(3 + 1 + 18, ExplanationAdmission.Passes(new GradCam(), [Layer], new CamRequest()));
        Assert.Equal(3 + 1 + 18 + 24, ExplanationAdmission.Passes(new ScoreCam(), [Layer], new CamRequest()));
        Assert.Equal(3 + 256 + 256, ExplanationAdmission.Passes(new AblationCam(), [Layer, Layer], new CamRequest(BlankBaseline: false, MeasureFaithfulness: false, Channels: null)));
    }

    [Fact]
    public void Work_that_cannot_fit_is_refused_at_once_and_admitted_work_makes_room_when_done()
    {
        var admission = new ExplanationAdmission();
        var perPass = TimeSpan.FromMilliseconds(10);
        var budget = TimeSpan.FromSeconds(1);
        // Over the pass limit, or over the time budget alone: 422, whatever else runs.
        Assert.Equal(ErrorKind.InvalidParameter, Assert.Throws<InferenceException>(() => admission.Admit("m", 2000, perPass, 1024, budget)).Kind);
        Assert.Equal(ErrorKind.InvalidParameter, Assert.Throws<InferenceException>(() => admission.Admit("m", 150, perPass, 1024, budget)).Kind);
        // 0.6 s admitted; another 0.6 s would not finish in time behind it: 503 (retry), until the first is done.
        var first = admission.Admit("m", 60, perPass, 1024, budget);
        var busy = Assert.Throws<InferenceException>(() => admission.Admit("m", 60, perPass, 1024, budget));
        Assert.Equal(ErrorKind.Unavailable, busy.Kind);
        Assert.False(busy.Permanent);
        using (admission.Admit("m", 30, perPass, 1024, budget)) { } // what still fits is admitted
        first.Dispose();
        admission.Admit("m", 60, perPass, 1024, budget).Dispose();
    }
}
