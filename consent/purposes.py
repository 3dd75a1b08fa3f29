"""The purposes a holder can be asked about, and the two that can never be granted."""

SUGGESTION_PROMPTS = "suggestion_prompts"
CAMERA_ROLL = "camera_roll_cloud_processing"
FACE_ANALYSIS = "face_analysis"
ADVERTISING = "advertising"
MODEL_TRAINING = "model_training"

GRANTABLE = (SUGGESTION_PROMPTS, CAMERA_ROLL, FACE_ANALYSIS)
REFUSED = (ADVERTISING, MODEL_TRAINING)
ALL = GRANTABLE + REFUSED

PURPOSE_LABELS = {
    SUGGESTION_PROMPTS: "Suggestion prompts",
    CAMERA_ROLL: "Camera Roll Sharing Suggestions",
    FACE_ANALYSIS: "Group photos by people",
    ADVERTISING: "Advertising",
    MODEL_TRAINING: "Model training",
}

PURPOSE_SUMMARIES = {
    SUGGESTION_PROMPTS: "Show prompts to share suggestions while you browse.",
    CAMERA_ROLL: (
        "Your phone keeps uploading recent camera-roll photos, picked by time, place and themes, "
        "so we can make collages, recaps and stylised images that only you see."
    ),
    FACE_ANALYSIS: "Also group your photos by the people in them. Needs Camera Roll Sharing Suggestions.",
}
