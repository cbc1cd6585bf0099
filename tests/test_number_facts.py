"""Facts about whole numbers, computed in English and Chinese (media_engine.number_facts)."""

from __future__ import annotations

from media_engine.answering import plan
from media_engine.number_facts import number_fact
from media_engine.tutor import TutorProfile


def spoken(question: str) -> str | None:
    found = number_fact(question)
    return None if found is None else found.spoken


def test_prime_or_not() -> None:
    assert spoken("Is 9 prime?") == "9 is not a prime number: 9 = 3 × 3."
    assert spoken("Is 97 a prime number?") == "97 is a prime number: its only factors are 1 and 97."
    assert spoken("Is twenty-one prime?") == "21 is not a prime number: 21 = 3 × 7."
    assert spoken("Is 1 prime?") == (
        "1 is not a prime number: a prime has exactly two factors, 1 and itself."
    )
    assert spoken("9是质数吗？") == "9不是质数，是合数：9 = 3 × 3。"
    assert spoken("20以内的质数有哪些？") == "20以内的质数有8个：2、3、5、7、11、13、17、19。"
    assert spoken("How many prime numbers are there below 10?") == (
        "There are 4 prime numbers less than 10: 2, 3, 5 and 7."
    )


def test_factors_parity_and_the_mean() -> None:
    assert spoken("What are the factors of 12?") == "The factors of 12 are 1, 2, 3, 4, 6 and 12."
    assert spoken("12的因数有哪些？") == "12的因数有1、2、3、4、6、12。"
    assert spoken("把60分解质因数") == "60 = 2 × 2 × 3 × 5，所以60的质因数是2、3、5。"
    assert spoken("Is 7 odd or even?") == "7 is odd: it cannot be divided by 2 exactly."
    assert spoken("What is the average of twelve and eighteen?") == (
        "12 + 18 = 30, and 30 ÷ 2 = 15, so the mean is 15."
    )
    assert spoken("3、5、10的平均数是多少？") == "3+5+10=18，再除以3，平均数是6。"


def test_a_follow_up_takes_what_it_asks_from_the_question_before() -> None:
    # Searched together with the question before it, as the conversation does.
    assert spoken("What is a prime number? Is 9 one?") == "9 is not a prime number: 9 = 3 × 3."
    assert spoken("什么是质数？ 那9是吗？") == "9不是质数，是合数：9 = 3 × 3。"
    assert spoken("How do I find the mean of 3, 5 and 10? So what's the mean?") == (
        "3 + 5 + 10 = 18, and 18 ÷ 3 = 6, so the mean is 6."
    )
    # Asked something the question before does not compute: the model answers.
    assert spoken("What are the factors of 12? And is it prime?") is None


def test_other_questions_are_left_to_the_model() -> None:
    for question in [
        "What is a prime number?",
        "What is the smallest prime number?",
        "Why is 2 the only even prime?",
        "Is 2.5 prime?",
        "The average speed is 60 km per hour for 2 hours, how far does it go?",
        "质数有什么用？",
    ]:
        assert spoken(question) is None, question


def test_the_engine_answers_them() -> None:
    tutor = TutorProfile(id=3, name="Max", subject="Maths", kb_id=3)
    decided = plan("Is 51 prime?", tutor, relevant=[])
    assert (
        decided.route == "calculated" and decided.said == "51 is not a prime number: 51 = 3 × 17."
    )
