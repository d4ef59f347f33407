"""Screens of the app, one module each. The four top-level ones are the app's modes:

    "models"     models.ModelsScreen()                 the models folder
    "training"   training.TrainingScreen(model=...)    train / watch one model
    "generation" generation.GenerationScreen(model=...) talk to a trained model
    "history"    history.HistoryScreen(model=...)      past runs of one model

The rest are dialogs (ModalScreen): new_model, export, rename, confirm, file_picker, help.
Nothing is imported here, so the app pays only for the screens it opens.
"""
