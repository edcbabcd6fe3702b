import logging

import azure.functions as func


def main(mytimer: func.TimerRequest) -> None:
    logging.info("tick (past_due=%s)", mytimer.past_due)
