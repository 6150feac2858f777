from django import forms
from django.core.exceptions import ValidationError

from reviews.conf import conf
from reviews.models import Label, ModelVersion
from reviews.services.reviews import validate_review_text


class ReviewForm(forms.Form):
    text = forms.CharField(
        label="Movie review",
        strip=False,
        required=False,  # our own message for empty text, below
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "Paste a movie review…", "aria-describedby": "text-help"}),
    )

    def clean_text(self):
        text = self.cleaned_data.get("text") or ""
        try:
            return validate_review_text(text)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages[0], code=exc.code) from None

    @staticmethod
    def limit() -> int:
        return conf.serving.review_max_chars


class FlagForm(forms.Form):
    label = forms.ChoiceField(
        label="The right label is", choices=Label.choices, widget=forms.RadioSelect, error_messages={"required": "Choose the right label."}
    )
    comment = forms.CharField(
        label="Comment (optional)", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class HistoryFilterForm(forms.Form):
    q = forms.CharField(label="Search text", required=False, max_length=200)
    label = forms.ChoiceField(label="Label", required=False, choices=[("", "Any")] + list(Label.choices))
    flagged = forms.ChoiceField(label="Flagged", required=False, choices=[("", "Any"), ("yes", "Flagged"), ("no", "Not flagged")])
    model_version = forms.ChoiceField(label="Model version", required=False, choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [("", "Any")] + [
            (v, v) for v in ModelVersion.objects.values_list("id", flat=True)
        ]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        flagged = {"yes": True, "no": False}.get(data.get("flagged") or "")
        return {
            "search": data.get("q") or None,
            "label": data.get("label") or None,
            "flagged": flagged,
            "model_version": data.get("model_version") or None,
        }
